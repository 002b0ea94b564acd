package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// screen writes the run's output. On a terminal the progress line is
// redrawn in place; otherwise (a pipe, a log, a test) it is printed when it
// says something new.
type screen struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	width func() int // the terminal's columns, 0 when unknown
	shown string     // the progress line on the terminal now
	last  string     // the last progress printed, off a terminal
}

func newScreen(f *os.File) *screen {
	fi, err := f.Stat()
	return &screen{w: f, tty: err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb",
		width: func() int { return termWidth(f) }}
}

func (s *screen) println(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shown != "" {
		fmt.Fprint(s.w, "\r\033[K")
	}
	fmt.Fprintln(s.w, text)
	if s.shown != "" {
		fmt.Fprint(s.w, s.shown)
	}
}

// progress shows what is being waited for; elapsed is shown on a terminal
// only, so that the line printed elsewhere changes only when the state does.
func (s *screen) progress(line string, elapsed time.Duration, tick int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tty {
		spin := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}[tick%10]
		s.shown = fmt.Sprintf("%s [%s] %s", spin, elapsed.Round(time.Second), line)
		// One line only, or \r cannot redraw it.
		if w := s.width(); w > 1 && utf8.RuneCountInString(s.shown) >= w {
			s.shown = string([]rune(s.shown)[:w-2]) + "…"
		}
		fmt.Fprint(s.w, "\r\033[K"+s.shown)
		return
	}
	if line != s.last {
		fmt.Fprintf(s.w, "… %s  [%s]\n", line, elapsed.Round(time.Second))
		s.last = line
	}
}

// endProgress removes the progress line from the terminal.
func (s *screen) endProgress() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shown != "" {
		fmt.Fprint(s.w, "\r\033[K")
		s.shown = ""
	}
	s.last = ""
}

// objRef names a sample object of this project's kinds.
type objRef struct{ kind, namespace, name string }

// objState is where a sample object is.
type objState struct {
	objRef
	state  string // phase, or Ready for a Tenant
	detail string // counters, for the progress line
	note   string // the Ready condition's message, for a failure
	end    bool   // reached its end state
	failed bool   // ended in failure
}

func (s objState) String() string {
	return strings.TrimSpace(fmt.Sprintf("%s %s %s %s", strings.ToLower(s.kind), s.name, s.state, s.detail))
}

// watcher follows the sample objects, prints `kubectl get inboxchat -A` each
// time one of them changes, and a progress line while waiting.
type watcher struct {
	c                   *applier
	out                 *screen
	kubectl, kubeconfig string
	started             time.Time
	// deadline, when set, ends the wait with an error.
	deadline time.Time
	expected []objRef
	lastKey  string
	tick     int
}

func (w *watcher) expect(objs sampleSet) {
	w.expected = nil
	for _, u := range objs {
		if u.GroupVersionKind().Group == v1alpha1.GroupVersion.Group {
			w.expected = append(w.expected, objRef{u.GetKind(), u.GetNamespace(), u.GetName()})
		}
	}
}

// until polls until done says so, ctx ends, the operator stops or the
// deadline passes.
func (w *watcher) until(ctx context.Context, mgr *stopped, label string, done func([]objState) (bool, error)) error {
	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	for {
		states, err := w.states(ctx)
		if err != nil && ctx.Err() == nil {
			w.out.println("   reading the sample objects: " + err.Error())
		}
		if err == nil {
			if key := fmt.Sprint(states); key != w.lastKey {
				w.lastKey = key
				w.out.endProgress()
				w.printKubectl(ctx)
			}
			ok, err := done(states)
			if err != nil || ok {
				w.out.endProgress()
				return err
			}
			if !w.deadline.IsZero() && time.Now().After(w.deadline) {
				w.out.endProgress()
				return w.timedOut(states)
			}
			w.out.progress(label+": "+progressLine(states), time.Since(w.started), w.tick)
			w.tick++
		}
		select {
		case <-ctx.Done():
			w.out.endProgress()
			return ctx.Err()
		case <-mgr.done:
			w.out.endProgress()
			return fmt.Errorf("the operator stopped: %v", mgr.err)
		case <-ticker.C:
		}
	}
}

// allDone is true once every expected object reached its end state, and an
// error once one ended in failure.
func (w *watcher) allDone(states []objState) (bool, error) {
	done := true
	for _, s := range states {
		if s.failed {
			return false, &objectFailed{s}
		}
		done = done && s.end
	}
	return done, nil
}

// objectFailed is a sample object that ended in failure.
type objectFailed struct{ objState }

func (f *objectFailed) Error() string {
	return fmt.Sprintf("%s %s ended in failure (%s): %s", strings.ToLower(f.kind), name(f.namespace, f.name), f.state, f.note)
}

func (w *watcher) timedOut(states []objState) error {
	var late []string
	for _, s := range states {
		if !s.end {
			msg := fmt.Sprintf("%s %s is %s", strings.ToLower(s.kind), name(s.namespace, s.name), s.state)
			if s.note != "" {
				msg += " (" + s.note + ")"
			}
			late = append(late, msg)
		}
	}
	return fmt.Errorf("after %s, not every sample object reached its end state:\n  %s", time.Since(w.started).Round(time.Second), strings.Join(late, "\n  "))
}

func progressLine(states []objState) string {
	parts := make([]string, 0, len(states))
	for _, s := range states {
		p := s.String()
		if s.end {
			p += " ✓"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " · ")
}

// printKubectl prints what `kubectl get inboxchat -A` shows, or the same
// from the API when kubectl cannot run.
func (w *watcher) printKubectl(ctx context.Context) {
	args := []string{"get", "inboxchat", "-A"}
	if w.kubeconfig != "" {
		args = append([]string{"--kubeconfig", w.kubeconfig}, args...)
	}
	kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(kctx, w.kubectl, args...).CombinedOutput()
	if err == nil {
		w.out.println(fmt.Sprintf("$ kubectl get inboxchat -A   [%s]\n%s", time.Since(w.started).Round(time.Second), strings.TrimRight(string(out), "\n")))
		return
	}
	if ctx.Err() != nil {
		return
	}
	states, serr := w.states(ctx)
	if serr != nil {
		return
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tSTATE\tDETAIL")
	for _, s := range states {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.ToLower(s.kind), name(s.namespace, s.name), s.state, s.detail)
	}
	tw.Flush()
	w.out.println(fmt.Sprintf("(%s could not run: %v)  [%s]\n%s", w.kubectl, err, time.Since(w.started).Round(time.Second), strings.TrimRight(buf.String(), "\n")))
}

// states reads the expected objects.
func (w *watcher) states(ctx context.Context) ([]objState, error) {
	out := make([]objState, 0, len(w.expected))
	for _, ref := range w.expected {
		s, err := w.state(ctx, ref)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (w *watcher) state(ctx context.Context, ref objRef) (objState, error) {
	s := objState{objRef: ref}
	key := client.ObjectKey{Namespace: ref.namespace, Name: ref.name}
	var obj client.Object
	switch ref.kind {
	case "Tenant":
		obj = &v1alpha1.Tenant{}
	case "PolicyUpdate":
		obj = &v1alpha1.PolicyUpdate{}
	case "Broadcast":
		obj = &v1alpha1.Broadcast{}
	case "ErasureRequest":
		obj = &v1alpha1.ErasureRequest{}
	default:
		s.state, s.end = "applied", true
		return s, nil
	}
	if err := w.c.c.Get(ctx, key, obj); apierrors.IsNotFound(err) {
		s.state = "absent"
		return s, nil
	} else if err != nil {
		return s, err
	}
	var conds []metav1.Condition
	switch o := obj.(type) {
	case *v1alpha1.Tenant:
		conds = o.Status.Conditions
		s.state = "Pending"
		if c := meta.FindStatusCondition(conds, v1alpha1.ConditionReady); c != nil {
			s.state = "NotReady"
			if c.Status == metav1.ConditionTrue {
				s.state, s.end = "Ready", true
			} else if c.Reason != "" {
				s.state = c.Reason
			}
		}
	case *v1alpha1.PolicyUpdate:
		conds = o.Status.Conditions
		s.state = phase(string(o.Status.Phase))
		s.detail = counter(o.Status.Sent, o.Status.Recipients)
		s.end = o.Status.Phase == v1alpha1.PolicyPublished || o.Status.Phase == v1alpha1.PolicySuperseded
		s.failed = o.Status.Phase == v1alpha1.PolicyFailed
	case *v1alpha1.Broadcast:
		conds = o.Status.Conditions
		s.state = phase(string(o.Status.Phase))
		s.detail = counter(o.Status.Sent, o.Status.Audience)
		s.end = o.Status.Phase == v1alpha1.BroadcastSucceeded
		s.failed = o.Status.Phase == v1alpha1.BroadcastFailed
	case *v1alpha1.ErasureRequest:
		conds = o.Status.Conditions
		s.state = phase(string(o.Status.Phase))
		s.end = o.Status.Phase == v1alpha1.ErasureCompleted
		s.failed = o.Status.Phase == v1alpha1.ErasureFailed
	}
	if c := meta.FindStatusCondition(conds, v1alpha1.ConditionReady); c != nil {
		s.note = c.Message
	}
	if c := meta.FindStatusCondition(conds, v1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue && !s.end {
		s.state += " (stalled: " + c.Reason + ")"
		s.note = c.Message
	}
	return s, nil
}

// counter shows progress once the total is known.
func counter(done, total int64) string {
	if total == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", done, total)
}

func phase(p string) string {
	if p == "" {
		return "Pending"
	}
	return p
}

// summary says what each sample object did, and what the emulator and the
// SMTP sink received.
func (w *watcher) summary(ctx context.Context, d *demo) error {
	var host string
	for _, ref := range w.expected {
		key := client.ObjectKey{Namespace: ref.namespace, Name: ref.name}
		var line string
		switch ref.kind {
		case "Tenant":
			t := &v1alpha1.Tenant{}
			if err := w.c.c.Get(ctx, key, t); err != nil {
				return err
			}
			host = t.Spec.App.Host
			line = fmt.Sprintf("Ready       %s, namespace %s, keyring key %s", t.Status.URL, t.Status.Namespace, t.Status.Keyring.ActiveKeyID)
		case "PolicyUpdate":
			p := &v1alpha1.PolicyUpdate{}
			if err := w.c.c.Get(ctx, key, p); err != nil {
				return err
			}
			line = fmt.Sprintf("%-11s version %s, e-mailed %d of %d users (%d failed)", p.Status.Phase, p.Spec.Version, p.Status.Sent, p.Status.Recipients, p.Status.Failed)
		case "Broadcast":
			b := &v1alpha1.Broadcast{}
			if err := w.c.c.Get(ctx, key, b); err != nil {
				return err
			}
			line = fmt.Sprintf("%-11s sent %d of %d (%d failed, %d unsubscribed, %d outside the 24-hour window)",
				b.Status.Phase, b.Status.Sent, b.Status.Audience, b.Status.Failed, b.Status.SkippedUnsubscribed, b.Status.SkippedOutsideWindow)
		case "ErasureRequest":
			e := &v1alpha1.ErasureRequest{}
			if err := w.c.c.Get(ctx, key, e); err != nil {
				return err
			}
			var erased, retained int64
			var stores []string
			for _, st := range e.Status.Stores {
				erased += st.Erased
				retained += st.Retained
				stores = append(stores, st.Name)
			}
			line = fmt.Sprintf("%-11s erased %d records from %s (%d retained), receipt %s", e.Status.Phase, erased, strings.Join(stores, ", "), retained, e.Status.Receipt)
			if x := e.Status.Export; x != nil {
				line += ", export " + x.Location
			}
		default:
			continue
		}
		w.out.println(fmt.Sprintf("   %-15s %-32s %s", strings.ToLower(ref.kind), name(ref.namespace, ref.name), line))
	}
	if d == nil {
		return nil
	}
	mails := d.smtp.Messages()
	bySubject := map[string]int{}
	for _, m := range mails {
		bySubject[m.Subject]++
	}
	subjects := make([]string, 0, len(bySubject))
	for s := range bySubject {
		subjects = append(subjects, s)
	}
	sort.Strings(subjects)
	w.out.println(fmt.Sprintf("» the SMTP sink caught %d e-mails:", len(mails)))
	for _, s := range subjects {
		w.out.println(fmt.Sprintf("   %3d × %q", bySubject[s], s))
	}
	deliveries := d.graph.Deliveries()
	prefix := "https://" + host + "/unsubscribe/"
	linked := 0
	for _, m := range deliveries {
		if strings.Contains(m.Text, prefix) {
			linked++
		}
	}
	w.out.println(fmt.Sprintf("» the Messenger emulator delivered %d messages, %d of them with an unsubscribe link (%s…)", len(deliveries), linked, prefix))
	if len(deliveries) > 0 {
		w.out.println(fmt.Sprintf("   the first one: %q", deliveries[0].Text))
	}
	return nil
}
