// Package operator assembles the InboxChat manager: scheme, cache limited to
// the operator's own objects, controllers, health checks and metrics. The
// operator binary and the local development run both start it from here.
package operator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/controllers"
	"github.com/inboxchat/inboxchat-operator/internal/webhooks"
)

// Options configure the manager. The zero value of each field means its default.
type Options struct {
	// MetricsAddr serves Prometheus metrics; "0" turns them off.
	MetricsAddr string
	// SecureMetrics serves metrics over HTTPS with authn/authz.
	SecureMetrics bool
	// MetricsCertDir holds tls.crt and tls.key of the metrics server (e.g.
	// from cert-manager; reloaded when they change). Empty: a self-signed
	// certificate made at start.
	MetricsCertDir string
	// ProbeAddr serves /healthz and /readyz; "0" turns them off.
	ProbeAddr string
	// PprofAddr serves Go's pprof endpoints; empty or "0" turns them off.
	PprofAddr string
	// LeaderElection makes one replica active at a time.
	LeaderElection bool
	// LeaderElectionNamespace holds the lease (defaults to the pod's namespace).
	LeaderElectionNamespace string
	// OperatorNamespace holds the operator's CA and offboarding receipts.
	OperatorNamespace string
	// QPS and Burst bound the API client.
	QPS   float32
	Burst int
	// Compression asks the API server to gzip responses and watch events.
	Compression bool
	// MaxConcurrentReconciles bounds parallel reconciles per controller.
	MaxConcurrentReconciles int
	// SyncPeriod is the full resync period.
	SyncPeriod time.Duration
	// Clock drives time-based behaviour; tests inject a fake.
	Clock clock.PassiveClock
	// Images of the managed stores; DefaultStoreImages when empty.
	Images controllers.StoreImages
	// Network says where the ingress controller and DNS run.
	Network *controllers.NetworkOptions
	// Ingress shapes tenant Ingresses.
	Ingress *controllers.IngressOptions
	// Notifier e-mails tenant admins; the SMTP notifier when nil.
	Notifier controllers.Notifier
	// Worker says how worker Jobs run; DefaultWorkerOptions when nil.
	Worker *controllers.WorkerOptions
	// Webhook serves the validating admission webhooks; off when nil.
	Webhook *WebhookOptions
}

// Webhook certificate modes.
const (
	// WebhookCertsSelf issues the serving certificate from the operator's CA
	// and injects the CA bundle (webhooks.CertRotator).
	WebhookCertsSelf = "self"
	// WebhookCertsFiles reads tls.crt and tls.key from CertDir, watched for
	// changes: cert-manager writes them and its CA injector sets the bundle.
	WebhookCertsFiles = "files"
)

// WebhookOptions configure the webhook server.
type WebhookOptions struct {
	// Host and Port to listen on.
	Host string
	Port int
	// CertMode is WebhookCertsSelf or WebhookCertsFiles.
	CertMode string
	// CertDir holds tls.crt and tls.key in the files mode.
	CertDir string
	// Hosts are the names in a self-issued certificate: the webhook
	// Service's DNS names.
	Hosts []string
	// ConfigurationName is the ValidatingWebhookConfiguration that receives
	// the CA bundle in the self mode.
	ConfigurationName string
	// Clock drives certificate renewal; the manager's clock when nil.
	Clock clock.PassiveClock
}

// Scheme returns the scheme with the built-in kinds and this operator's API.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}

// managedSelector selects the objects the operator created.
func managedSelector() labels.Selector {
	return labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue})
}

// CacheOptions limit the informer cache to objects the operator owns, so its
// memory does not grow with unrelated Secrets, ConfigMaps and workloads in the
// cluster, and strip managed fields from every cached object. Objects that
// users create and the operator only reads (referenced Secrets) are read
// through the uncached API reader.
func CacheOptions() cache.Options {
	slim := cache.ByObject{Label: managedSelector(), Transform: slimObject}
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Namespace{}:             slim,
			&corev1.Secret{}:                slim,
			&corev1.ConfigMap{}:             slim,
			&corev1.Service{}:               slim,
			&corev1.ServiceAccount{}:        slim,
			&corev1.PersistentVolumeClaim{}: slim,
			&appsv1.Deployment{}:            slim,
			&appsv1.StatefulSet{}:           slim,
			&batchv1.Job{}:                  slim,
			&batchv1.CronJob{}:              slim,
			&networkingv1.Ingress{}:         slim,
			&networkingv1.NetworkPolicy{}:   slim,
			&policyv1.PodDisruptionBudget{}: slim,
			&rbacv1.Role{}:                  slim,
			&rbacv1.RoleBinding{}:           slim,
		},
	}
}

// metricsOptions serve metrics, when secure over HTTPS to clients whose
// token the API server authenticates and that may get /metrics
// (TokenReview and SubjectAccessReview, the metrics-reader ClusterRole).
//
// With a certificate directory, both files must be there: controller-runtime
// would otherwise fall back to a self-signed certificate without a word, and
// scrapers that verify it would fail with a less helpful error.
func metricsOptions(o Options) (metricsserver.Options, error) {
	m := metricsserver.Options{BindAddress: o.MetricsAddr, SecureServing: o.SecureMetrics,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}}
	if o.SecureMetrics {
		m.FilterProvider = metricsAuth
	}
	if o.MetricsCertDir != "" {
		if !o.SecureMetrics {
			return m, errors.New("a metrics certificate directory needs secure metrics (--metrics-secure)")
		}
		m.CertDir, m.CertName, m.KeyName = o.MetricsCertDir, "tls.crt", "tls.key"
		for _, f := range []string{m.CertName, m.KeyName} {
			if _, err := os.Stat(filepath.Join(m.CertDir, f)); err != nil {
				return m, fmt.Errorf("the metrics certificate: %w", err)
			}
		}
	}
	return m, nil
}

// NewManager builds the manager with every controller registered.
func NewManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	if o.QPS > 0 {
		cfg.QPS = o.QPS
	}
	if o.Burst > 0 {
		cfg.Burst = o.Burst
	}
	// The operator runs next to the API server: gzip on every watch event
	// and response would cost both sides CPU to save in-cluster bandwidth.
	cfg.DisableCompression = !o.Compression
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	cacheOpts := CacheOptions()
	if o.SyncPeriod > 0 {
		cacheOpts.SyncPeriod = &o.SyncPeriod
	}
	// HTTP/2 is off on the webhook and metrics servers (controller-runtime
	// offers it by default): it exposes them to the HTTP/2 rapid reset and
	// stream cancellation attacks (CVE-2023-44487, CVE-2023-39325).
	http1Only := func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }
	var rotator *webhooks.CertRotator
	var webhookServer webhook.Server
	if w := o.Webhook; w != nil {
		wo := webhook.Options{Host: w.Host, Port: w.Port, CertDir: w.CertDir, TLSOpts: []func(*tls.Config){http1Only}}
		switch w.CertMode {
		case WebhookCertsFiles, "cert-manager":
		case WebhookCertsSelf, "":
			c := w.Clock
			if c == nil {
				c = o.Clock
			}
			rotator = &webhooks.CertRotator{Namespace: o.OperatorNamespace, Hosts: w.Hosts, ConfigurationName: w.ConfigurationName,
				Clock: c, Log: ctrl.Log.WithName("webhook-certs")}
			wo.TLSOpts = append(wo.TLSOpts, func(c *tls.Config) { c.GetCertificate = rotator.GetCertificate })
		default:
			return nil, fmt.Errorf("unknown webhook certificate mode %q (want %s or %s)", w.CertMode, WebhookCertsSelf, WebhookCertsFiles)
		}
		webhookServer = webhook.NewServer(wo)
	}
	metricsOpts, err := metricsOptions(o)
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		WebhookServer:                 webhookServer,
		Scheme:                        Scheme(),
		Cache:                         cacheOpts,
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        o.ProbeAddr,
		PprofBindAddress:              o.PprofAddr,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              "inboxchat-operator.inboxchat.io",
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := controllers.SetupIndexes(context.Background(), mgr); err != nil {
		return nil, fmt.Errorf("indexing: %w", err)
	}
	if o.Images == (controllers.StoreImages{}) {
		o.Images = controllers.DefaultStoreImages()
	}
	if o.Network == nil {
		n := controllers.DefaultNetworkOptions()
		o.Network = &n
	}
	if o.Ingress == nil {
		i := controllers.DefaultIngressOptions()
		o.Ingress = &i
	}
	if o.Worker == nil {
		w := controllers.DefaultWorkerOptions()
		o.Worker = &w
	}
	if o.Notifier == nil {
		o.Notifier = &SMTPNotifier{Reader: mgr.GetAPIReader()}
	}
	if err := (&controllers.TenantReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Scheme:                  mgr.GetScheme(),
		Recorder:                mgr.GetEventRecorder("inboxchat-operator"),
		Clock:                   o.Clock,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
		OperatorNamespace:       o.OperatorNamespace,
		Images:                  o.Images,
		Network:                 *o.Network,
		Ingress:                 *o.Ingress,
		Notifier:                o.Notifier,
		Worker:                  *o.Worker,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the Tenant controller: %w", err)
	}
	if err := (&controllers.ExportExpiryReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("inboxchat-operator"),
		Clock:     o.Clock,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the offboarding export expiry controller: %w", err)
	}
	if err := (&controllers.ErasureRequestReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Scheme:                  mgr.GetScheme(),
		Recorder:                mgr.GetEventRecorder("inboxchat-operator"),
		Clock:                   o.Clock,
		Worker:                  *o.Worker,
		Notifier:                o.Notifier,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the ErasureRequest controller: %w", err)
	}
	if err := (&controllers.PolicyUpdateReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Scheme:                  mgr.GetScheme(),
		Recorder:                mgr.GetEventRecorder("inboxchat-operator"),
		Clock:                   o.Clock,
		Worker:                  *o.Worker,
		Notifier:                o.Notifier,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the PolicyUpdate controller: %w", err)
	}
	if err := (&controllers.BroadcastReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Scheme:                  mgr.GetScheme(),
		Recorder:                mgr.GetEventRecorder("inboxchat-operator"),
		Clock:                   o.Clock,
		Worker:                  *o.Worker,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the Broadcast controller: %w", err)
	}
	if o.Webhook != nil {
		if err := webhooks.Setup(mgr); err != nil {
			return nil, fmt.Errorf("setting up the webhooks: %w", err)
		}
		if rotator != nil {
			rotator.Client, rotator.APIReader = mgr.GetClient(), mgr.GetAPIReader()
			if err := mgr.Add(rotator); err != nil {
				return nil, err
			}
			if err := mgr.AddReadyzCheck("webhook-certificate", rotator.Ready); err != nil {
				return nil, err
			}
		}
		if err := mgr.AddReadyzCheck("webhook-server", mgr.GetWebhookServer().StartedChecker()); err != nil {
			return nil, err
		}
	}
	for _, c := range []prometheus.Collector{newTenantCollector(mgr.GetClient()), newWorkCollector(mgr.GetClient(), o.Clock.Now)} {
		if err := metrics.Registry.Register(c); err != nil {
			if _, dup := err.(prometheus.AlreadyRegisteredError); !dup {
				return nil, err
			}
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}
