package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/mail"
	"github.com/inboxchat/inboxchat-operator/internal/policynotify"
)

func init() { subcommands["notify"] = runNotify }

// runNotify is the notify worker: it e-mails every user of the tenant once
// about a privacy-policy version, through the notification ledger, and
// reports recipients, sent, failed and accepted on the PolicyUpdate.
func runNotify(args []string) error {
	var w workerFlags
	fs := flag.NewFlagSet("notify", flag.ContinueOnError)
	if err := w.parse(fs, args); err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	c, err := kubeClient()
	if err != nil {
		return err
	}
	pu := &v1alpha1.PolicyUpdate{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: w.name}, pu); err != nil {
		return fmt.Errorf("reading PolicyUpdate %s: %w", w.name, err)
	}
	smtpSecret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: os.Getenv("INBOXCHAT_SMTP_SECRET")}, smtpSecret); err != nil {
		return fmt.Errorf("reading the SMTP Secret: %w", err)
	}
	settings, err := mail.SettingsFromSecretData(smtpSecret.Data)
	if err != nil {
		return err
	}
	mailer, err := mail.NewMailer(settings)
	if err != nil {
		return err
	}
	kr, err := w.keyring()
	if err != nil {
		return err
	}
	db, engine, err := w.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	// The operator passes the address it published (spec.documentURL, or
	// the app's page for a document from spec.documentRef).
	documentURL := envOr("INBOXCHAT_POLICY_DOCUMENT_URL", pu.Spec.DocumentURL)
	if documentURL == "" {
		return fmt.Errorf("PolicyUpdate %s has no document address: set INBOXCHAT_POLICY_DOCUMENT_URL or spec.documentURL", pu.Name)
	}
	patcher := newStatusPatcher(c, pu, progressInterval)
	record := func(p *v1alpha1.PolicyUpdate, pr policynotify.Progress) {
		p.Status.Recipients, p.Status.Sent, p.Status.Failed, p.Status.Accepted = pr.Recipients, pr.Sent, pr.Failed+pr.UnknownOutcome, pr.Accepted
	}
	n, err := policynotify.New(policynotify.Config{
		DB: db, Engine: engine, Keyring: kr, Mailer: mailer,
		Version: pu.Spec.Version, EffectiveAt: pu.Spec.EffectiveAt.Time, DocumentURL: documentURL, Summary: pu.Spec.Summary,
		Product: envOr("INBOXCHAT_PRODUCT", "InboxChat"), RequireReacceptance: pu.Spec.RequireReacceptance,
		Rate: rate.Limit(max(pu.Spec.Notify.MessagesPerSecond, 1)), ProgressInterval: progressInterval,
		OnProgress: func(pr policynotify.Progress) {
			_ = patcher.update(ctx, false, func(p *v1alpha1.PolicyUpdate) { record(p, pr) })
		},
	})
	if err != nil {
		return err
	}
	pr, runErr := n.Run(ctx)
	finalCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := patcher.update(finalCtx, true, func(p *v1alpha1.PolicyUpdate) { record(p, pr) }); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr == nil && ctx.Err() != nil {
		return errors.New("stopped before every user was e-mailed; a new pod resumes from the ledger")
	}
	return runErr
}
