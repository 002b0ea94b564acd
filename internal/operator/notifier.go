package operator

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/mail"
)

// SMTPNotifier e-mails a tenant's admins through the SMTP server named by
// the Tenant's spec.notifications.smtpSecretRef. Each admin gets their own
// message, so admins' addresses are not disclosed to one another.
type SMTPNotifier struct {
	// Reader reads the SMTP Secret (a user's Secret, not cached).
	Reader client.Reader
	// Options are passed to every Mailer (tests trust their own CA here).
	Options []mail.Option
}

// Notify renders the notice and sends it to every admin.
func (n *SMTPNotifier) Notify(ctx context.Context, t *v1alpha1.Tenant, kind mail.Kind, data any) error {
	ref := t.Spec.Notifications.SMTPSecretRef
	if ref == nil {
		return nil
	}
	s := &corev1.Secret{}
	if err := n.Reader.Get(ctx, client.ObjectKey{Namespace: t.NamespaceName(), Name: ref.Name}, s); err != nil {
		return fmt.Errorf("reading the SMTP Secret %s: %w", ref.Name, err)
	}
	settings, err := mail.SettingsFromSecretData(s.Data)
	if err != nil {
		return fmt.Errorf("the SMTP Secret %s: %w", ref.Name, err)
	}
	mailer, err := mail.NewMailer(settings, n.Options...)
	if err != nil {
		return err
	}
	notice, err := mail.Render(kind, data)
	if err != nil {
		return err
	}
	var errs []error
	for i, a := range t.Spec.Admins {
		if err := mailer.Send(ctx, notice.Message(a.Email)); err != nil {
			// Name the admin by position, never by address.
			errs = append(errs, fmt.Errorf("admin %d: %w", i+1, err))
		}
	}
	return errors.Join(errs...)
}
