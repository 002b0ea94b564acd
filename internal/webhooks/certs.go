package webhooks

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/controllers"
	"github.com/inboxchat/inboxchat-operator/internal/pki"
)

// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;update;patch,resourceNames=inboxchat-validating-webhook-configuration

// DefaultConfigurationName is the name of the ValidatingWebhookConfiguration
// that the chart and config/default install and the rotator injects its CA
// bundle into. It is fixed (not derived from a release name) so that the
// operator's RBAC can name it.
const DefaultConfigurationName = "inboxchat-validating-webhook-configuration"

const (
	// defaultValidity is the lifetime of a webhook serving certificate; it is
	// renewed at two thirds of it.
	defaultValidity = 30 * 24 * time.Hour
	// defaultResync is how often the rotator checks the certificate and the
	// CA bundle (a `helm upgrade` renders the configuration without one).
	defaultResync = time.Minute
)

// CertRotator serves the webhook server a certificate from the operator's CA
// and keeps the CA bundle of the ValidatingWebhookConfiguration pointing at
// that CA. Every replica runs one (webhooks are served by all replicas, not
// only the leader); they share the CA, so any replica's certificate is
// trusted and their bundle writes agree. The certificate lives in memory
// only and is renewed at two thirds of its lifetime.
type CertRotator struct {
	// Client patches the webhook configuration and creates the CA Secret.
	Client client.Client
	// APIReader reads the CA Secret and the webhook configuration, which the
	// cache does not hold.
	APIReader client.Reader
	// Namespace holds the operator's CA Secret.
	Namespace string
	// Hosts are the certificate's names: the webhook Service's DNS names.
	Hosts []string
	// ConfigurationName is the ValidatingWebhookConfiguration to inject the
	// CA bundle into; DefaultConfigurationName when empty.
	ConfigurationName string
	// Clock drives renewal; tests inject a fake one.
	Clock clock.PassiveClock
	// Validity is the certificate's lifetime; 30 days when zero.
	Validity time.Duration
	// Resync is how often Start checks again; a minute when zero.
	Resync time.Duration
	// Log receives what the rotator does (never key material).
	Log logr.Logger

	mu       sync.RWMutex
	cert     *tls.Certificate
	certPEM  []byte
	renewAt  time.Time
	caPEM    []byte
	injected bool
}

// GetCertificate is the webhook server's tls.Config.GetCertificate.
func (r *CertRotator) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.cert == nil {
		return nil, errors.New("the webhook serving certificate is not issued yet")
	}
	return r.cert, nil
}

// CertificatePEM returns the certificate being served (for tests and
// diagnostics).
func (r *CertRotator) CertificatePEM() []byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return bytes.Clone(r.certPEM)
}

// Ready is a readiness check: the replica is ready once it has a
// certificate and the CA bundle has been injected at least once.
func (r *CertRotator) Ready(*http.Request) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	switch {
	case r.cert == nil:
		return errors.New("no webhook serving certificate yet")
	case !r.injected:
		return errors.New("the webhook CA bundle is not injected yet")
	}
	return nil
}

// NeedLeaderElection is false: every replica serves webhooks.
func (r *CertRotator) NeedLeaderElection() bool { return false }

// Start syncs at once and then every Resync until ctx ends. A failed sync is
// logged and retried; it never stops the manager.
func (r *CertRotator) Start(ctx context.Context) error {
	resync := r.Resync
	if resync <= 0 {
		resync = defaultResync
	}
	for {
		if err := r.Sync(ctx); err != nil && ctx.Err() == nil {
			r.Log.Error(err, "webhook certificate sync failed; retrying", "in", resync)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(resync):
		}
	}
}

// Sync issues a certificate when there is none or it is due for renewal, and
// injects the CA bundle when the configuration's differs.
func (r *CertRotator) Sync(ctx context.Context) error {
	now := r.now()
	r.mu.RLock()
	due := r.cert == nil || !now.Before(r.renewAt)
	r.mu.RUnlock()
	if due {
		if err := r.issue(ctx, now); err != nil {
			return err
		}
	}
	return r.inject(ctx)
}

func (r *CertRotator) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// issue makes a new serving certificate from the operator's CA.
func (r *CertRotator) issue(ctx context.Context, now time.Time) error {
	if len(r.Hosts) == 0 {
		return errors.New("webhooks: the certificate rotator has no hosts")
	}
	ca, err := controllers.LoadOperatorCA(ctx, r.Client, r.APIReader, r.Namespace, now)
	if err != nil {
		return err
	}
	validity := r.Validity
	if validity <= 0 {
		validity = defaultValidity
	}
	certPEM, keyPEM, err := ca.IssueServing(r.Hosts, now, validity)
	if err != nil {
		return fmt.Errorf("issuing the webhook serving certificate: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	renewAt, err := pki.RenewAtPEM(certPEM)
	if err != nil {
		return err
	}
	r.mu.Lock()
	renewed := r.cert != nil
	r.cert, r.certPEM, r.renewAt, r.caPEM = &pair, certPEM, renewAt, ca.CertPEM
	r.mu.Unlock()
	r.Log.Info("issued the webhook serving certificate", "renewed", renewed, "renewAt", renewAt.UTC().Format(time.RFC3339))
	return nil
}

// inject sets every webhook's caBundle in the configuration to the CA.
func (r *CertRotator) inject(ctx context.Context) error {
	name := r.ConfigurationName
	if name == "" {
		name = DefaultConfigurationName
	}
	r.mu.RLock()
	caPEM := r.caPEM
	r.mu.RUnlock()
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Name: name}, cfg); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("ValidatingWebhookConfiguration %s does not exist (install the chart with webhook.enabled, or run the manager with --webhook-port=-1)", name)
		}
		return err
	}
	patch := client.MergeFromWithOptions(cfg.DeepCopy(), client.MergeFromWithOptimisticLock{})
	changed := false
	for i := range cfg.Webhooks {
		if !bytes.Equal(cfg.Webhooks[i].ClientConfig.CABundle, caPEM) {
			cfg.Webhooks[i].ClientConfig.CABundle = caPEM
			changed = true
		}
	}
	if changed {
		if err := r.Client.Patch(ctx, cfg, patch); err != nil {
			return fmt.Errorf("injecting the CA bundle into %s: %w", name, err)
		}
		r.Log.Info("injected the CA bundle into the webhook configuration", "configuration", name)
	}
	r.mu.Lock()
	r.injected = true
	r.mu.Unlock()
	return nil
}
