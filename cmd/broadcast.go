package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/broadcast"
	"github.com/inboxchat/inboxchat-operator/internal/messenger"
)

func init() { subcommands["broadcast"] = runBroadcast }

// progressInterval is how often a worker patches its object's status.
const progressInterval = 3 * time.Second

// runBroadcast is the broadcast worker: it freezes the audience, sends at
// the given rate through the delivery ledger, and reports progress on the
// Broadcast's status. SIGTERM (the Job suspended: a pause) stops it cleanly
// after the sends in flight are recorded; a new pod resumes from the ledger.
func runBroadcast(args []string) error {
	var w workerFlags
	fs := flag.NewFlagSet("broadcast", flag.ContinueOnError)
	rate := fs.Float64("rate", 20, "messages per second (already capped by the tenant and Messenger)")
	pageID := fs.String("page-id", "", "the tenant's Facebook Page")
	graphURL := fs.String("graph-api-url", "https://graph.facebook.com/v23.0", "Graph API base URL")
	host := fs.String("host", "", "the tenant host that serves unsubscribe links")
	retryFailed := fs.Bool("retry-failed", false, "send again to leads whose delivery failed")
	if err := w.parse(fs, args); err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	c, err := kubeClient()
	if err != nil {
		return err
	}
	bc := &v1alpha1.Broadcast{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: w.name}, bc); err != nil {
		return fmt.Errorf("reading Broadcast %s: %w", w.name, err)
	}
	patcher := newStatusPatcher(c, bc, progressInterval)
	fail := func(code int32, text string) error {
		return patcher.update(ctx, true, func(b *v1alpha1.Broadcast) {
			b.Status.Phase = v1alpha1.BroadcastFailed
			b.Status.LastError = &v1alpha1.BroadcastError{Code: code, Text: text}
		})
	}

	kr, err := w.keyring()
	if err != nil {
		return err
	}
	key, err := w.appKey("unsubscribe-key")
	if err != nil {
		return err
	}
	db, engine, err := w.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	mc, err := messenger.NewClient(messenger.ClientConfig{GraphAPIURL: *graphURL, PageID: *pageID, AccessToken: os.Getenv("INBOXCHAT_PAGE_ACCESS_TOKEN")})
	if err != nil {
		return fail(0, "the Messenger client cannot be set up: "+err.Error())
	}
	// Only the sends in flight are exposed to a crash (claimed, not yet
	// recorded), so keep just enough in flight for Graph's latency: about a
	// tenth of a second of sends.
	sender, err := messenger.NewSender(mc, messenger.SenderConfig{MessagesPerSecond: *rate, Workers: inFlightFor(*rate)})
	if err != nil {
		return fail(0, "the sender cannot be set up: "+err.Error())
	}
	var buttons []messenger.Button
	for _, b := range bc.Spec.Message.Buttons {
		buttons = append(buttons, messenger.Button{Title: b.Title, URL: b.URL})
	}
	ratio, _ := strconv.ParseFloat(bc.Spec.MaxFailureRatio, 64)
	if bc.Spec.MaxFailureRatio == "" {
		ratio = 0.1
	}
	record := func(b *v1alpha1.Broadcast, p broadcast.Progress) {
		b.Status.Audience, b.Status.Sent = p.Audience, p.Sent
		b.Status.Failed = p.Failed // includes the unknown outcomes of a crash window
		b.Status.SkippedUnsubscribed, b.Status.SkippedOutsideWindow, b.Status.SkippedUnreachable = p.SkippedUnsubscribed, p.SkippedOutsideWindow, p.SkippedUnreachable
		if p.Rate > 0 {
			b.Status.MessagesPerSecond = strconv.FormatFloat(p.Rate, 'f', 1, 64)
		}
		if e := p.LastError; !e.IsZero() {
			b.Status.LastError = &v1alpha1.BroadcastError{Code: int32(e.GraphCode), Subcode: int32(e.GraphSubcode), Text: e.Code + ": " + e.Text}
		}
	}
	runner, err := broadcast.New(broadcast.Config{
		DB: db, Engine: engine, Keyring: kr, UnsubscribeKey: key,
		Tenant: os.Getenv("INBOXCHAT_TENANT"), Host: *host, Broadcast: bc.Name, PageID: *pageID,
		Text: bc.Spec.Message.Text, Buttons: buttons, MessagingType: messenger.MessagingType(bc.Spec.MessagingType), Tag: bc.Spec.Tag,
		Tags: bc.Spec.Audience.Tags, ExcludeTags: bc.Spec.Audience.ExcludeTags,
		Rate: *rate, MaxFailureRatio: ratio, Client: mc, Sender: sender, ClaimBatch: min(inFlightFor(*rate), 8), ProgressInterval: progressInterval,
		OnProgress: func(p broadcast.Progress) {
			_ = patcher.update(ctx, false, func(b *v1alpha1.Broadcast) { record(b, p) })
		},
	})
	if err != nil {
		return fail(0, err.Error())
	}
	if *retryFailed {
		if _, err := runner.RetryFailed(ctx); err != nil {
			return err
		}
	}
	if err := patcher.update(ctx, true, func(b *v1alpha1.Broadcast) {
		b.Status.Phase = v1alpha1.BroadcastRunning
		if b.Status.StartedAt == nil {
			now := metav1.NewTime(time.Now().Truncate(time.Second))
			b.Status.StartedAt = &now
		}
	}); err != nil {
		return err
	}

	p, runErr := runner.Run(ctx)
	// The pod may be stopping: the last write gets a fresh context.
	finalCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	final := func(change func(*v1alpha1.Broadcast)) error {
		return patcher.update(finalCtx, true, func(b *v1alpha1.Broadcast) {
			record(b, p)
			change(b)
		})
	}
	switch broadcast.ClassOf(runErr) {
	case broadcast.Paused:
		return final(func(b *v1alpha1.Broadcast) { b.Status.Phase = v1alpha1.BroadcastPaused })
	case broadcast.Invalid, broadcast.InvalidToken:
		return final(func(b *v1alpha1.Broadcast) {
			b.Status.Phase = v1alpha1.BroadcastFailed
			if b.Status.LastError == nil || b.Status.LastError.Text == "" {
				b.Status.LastError = &v1alpha1.BroadcastError{Text: runErr.Error()}
			}
		})
	}
	if err := final(func(*v1alpha1.Broadcast) {}); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr != nil {
		return runErr
	}
	if ctx.Err() != nil || !p.Done() {
		// Stopped before the end (paused, or the pod was evicted): exit
		// non-zero so a completed Job always means a finished broadcast.
		return errors.New("stopped before the broadcast finished; a new pod resumes from the ledger")
	}
	return nil
}

// inFlightFor is how many sends to keep in flight at a rate: enough that
// about 100 ms of Graph latency does not cap throughput, and no more, since
// a killed worker cannot know the outcome of the sends it had in flight.
func inFlightFor(rate float64) int {
	return min(max(int(rate/10)+1, 2), 32)
}
