package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/inboxchat/inboxchat-operator/controllers"
	"github.com/inboxchat/inboxchat-operator/internal/operator"
	"github.com/inboxchat/inboxchat-operator/internal/webhooks"
)

// runManager starts the controllers and blocks until SIGTERM.
func runManager(args []string) error {
	var o operator.Options
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8443", `address of the metrics endpoint; "0" turns it off`)
	fs.BoolVar(&o.SecureMetrics, "metrics-secure", true, "serve metrics over HTTPS with Kubernetes authentication and authorization")
	fs.StringVar(&o.MetricsCertDir, "metrics-cert-dir", "", "directory of the metrics server's tls.crt and tls.key (e.g. a cert-manager Secret), reloaded when they change; empty: a self-signed certificate")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", "", "address of Go's pprof endpoints (off when empty)")
	fs.BoolVar(&o.LeaderElection, "leader-elect", false, "elect one active replica")
	fs.StringVar(&o.OperatorNamespace, "operator-namespace", envOr("POD_NAMESPACE", "inboxchat-system"), "namespace of the operator's CA and offboarding receipts")
	qps := fs.Float64("kube-api-qps", 50, "queries per second to the API server")
	fs.IntVar(&o.Burst, "kube-api-burst", 100, "burst of queries to the API server")
	fs.BoolVar(&o.Compression, "kube-api-compression", false, "ask the API server to gzip its responses and watch events (off: in the cluster, compressing every event costs the API server more CPU than the bandwidth is worth)")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "parallel reconciles per controller")
	fs.DurationVar(&o.SyncPeriod, "sync-period", 0, "full resync period (0: controller-runtime's default)")
	images := controllers.DefaultStoreImages()
	fs.StringVar(&images.Postgres, "postgres-image", images.Postgres, "image of managed PostgreSQL stores")
	fs.StringVar(&images.MySQL, "mysql-image", images.MySQL, "image of managed MySQL stores (a MariaDB image)")
	fs.StringVar(&images.Redis, "redis-image", images.Redis, "image of managed Redis session stores")
	ingress := controllers.DefaultIngressOptions()
	fs.StringVar(&ingress.ClassName, "ingress-class", ingress.ClassName, "IngressClass of tenant Ingresses (empty: the cluster default)")
	network := controllers.DefaultNetworkOptions()
	ingressNS := fs.String("ingress-namespace", network.IngressNamespaceSelector["kubernetes.io/metadata.name"], "namespace of the ingress controller, allowed to reach tenant apps")
	fs.Func("apiserver-egress-ports", "comma-separated ports, beside 443, on which worker Jobs may reach the Kubernetes API (the API server's own port behind the kubernetes Service; empty: none) (default 6443)",
		func(v string) (err error) { network.APIServerPorts, err = parsePorts(v); return err })
	worker := controllers.DefaultWorkerOptions()
	fs.StringVar(&worker.Image, "worker-image", envOr("OPERATOR_IMAGE", worker.Image), "image of the worker Jobs (the operator's own image)")
	webhookPort := fs.Int("webhook-port", 9443, "port of the validating admission webhooks; -1 turns them off")
	webhookCertMode := fs.String("webhook-cert-mode", operator.WebhookCertsSelf, `where the webhook certificate comes from: "self" (issued from the operator's CA, CA bundle injected) or "files" (tls.crt/tls.key in --webhook-cert-dir, e.g. from cert-manager)`)
	webhookCertDir := fs.String("webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory of tls.crt and tls.key in the files mode")
	webhookService := fs.String("webhook-service-name", "inboxchat-webhook-service", "the webhook Service, whose DNS names the self-issued certificate holds")
	webhookConfig := fs.String("webhook-configuration-name", webhooks.DefaultConfigurationName, "the ValidatingWebhookConfiguration that receives the CA bundle in the self mode")
	zopts := zap.Options{Development: false, TimeEncoder: zapcore.ISO8601TimeEncoder}
	zopts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.QPS = float32(*qps)
	o.Images = images
	o.Ingress = &ingress
	network.IngressNamespaceSelector = map[string]string{"kubernetes.io/metadata.name": *ingressNS}
	o.Network = &network
	o.Worker = &worker
	if *webhookPort >= 0 {
		svc, ns := *webhookService, o.OperatorNamespace
		o.Webhook = &operator.WebhookOptions{
			Port: *webhookPort, CertMode: *webhookCertMode, CertDir: *webhookCertDir, ConfigurationName: *webhookConfig,
			Hosts: []string{svc + "." + ns + ".svc", svc + "." + ns + ".svc.cluster.local", svc + "." + ns, svc},
		}
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zopts)))

	mgr, err := operator.NewManager(ctrl.GetConfigOrDie(), o)
	if err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("starting manager")
	return mgr.Start(ctrl.SetupSignalHandler())
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// parsePorts parses a comma-separated list of TCP ports; "" is none.
func parsePorts(v string) ([]int32, error) {
	var ports []int32
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := strconv.ParseInt(f, 10, 32)
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("%q is not a port (1-65535)", f)
		}
		ports = append(ports, int32(p))
	}
	return ports, nil
}
