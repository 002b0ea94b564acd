package main

import (
	"flag"
	"os"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/inboxchat/inboxchat-operator/internal/operator"
)

// runManager starts the controllers and blocks until SIGTERM.
func runManager(args []string) error {
	var o operator.Options
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8443", `address of the metrics endpoint; "0" turns it off`)
	fs.BoolVar(&o.SecureMetrics, "metrics-secure", true, "serve metrics over HTTPS with Kubernetes authentication and authorization")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.BoolVar(&o.LeaderElection, "leader-elect", false, "elect one active replica")
	fs.StringVar(&o.OperatorNamespace, "operator-namespace", envOr("POD_NAMESPACE", "inboxchat-system"), "namespace of the operator's CA and offboarding receipts")
	qps := fs.Float64("kube-api-qps", 50, "queries per second to the API server")
	fs.IntVar(&o.Burst, "kube-api-burst", 100, "burst of queries to the API server")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "parallel reconciles per controller")
	fs.DurationVar(&o.SyncPeriod, "sync-period", 0, "full resync period (0: controller-runtime's default)")
	zopts := zap.Options{Development: false, TimeEncoder: zapcore.ISO8601TimeEncoder}
	zopts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.QPS = float32(*qps)
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
