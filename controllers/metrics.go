package controllers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	reconcileDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "inboxchat_reconcile_duration_seconds",
		Help:    "Duration of reconciles by kind.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	}, []string{"kind"})
	reconcileErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "inboxchat_reconcile_errors_total",
		Help: "Reconciles that returned an error, by kind.",
	}, []string{"kind"})
)

func init() {
	metrics.Registry.MustRegister(reconcileDuration, reconcileErrors)
}

// observeReconcile records the duration and outcome of one reconcile.
func observeReconcile(kind string, start, end time.Time, err error) {
	reconcileDuration.WithLabelValues(kind).Observe(end.Sub(start).Seconds())
	if err != nil {
		reconcileErrors.WithLabelValues(kind).Inc()
	}
}
