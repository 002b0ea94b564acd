package operator

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/broadcast"
	"github.com/inboxchat/inboxchat-operator/internal/testenv"
)

// The erasure deadline and the auto-pause of a Broadcast are native metrics,
// read from the objects' status on the real API server; ErasureRequest names
// stay out of the labels.
func TestWorkCollectorReportsDeadlinesAndAutoPauses(t *testing.T) {
	env, cfg, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	for _, ns := range []string{"tenant-a", "tenant-b"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	erasure := func(ns, name string, phase v1alpha1.ErasurePhase, deadline *time.Time) {
		t.Helper()
		er := &v1alpha1.ErasureRequest{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1alpha1.ErasureRequestSpec{Subject: v1alpha1.ErasureSubject{Kind: v1alpha1.SubjectUser, ID: "42"}}}
		if err := c.Create(ctx, er); err != nil {
			t.Fatal(err)
		}
		if phase == "" {
			return // never reconciled: no status
		}
		er.Status.Phase = phase
		if deadline != nil {
			d := metav1.NewTime(*deadline)
			er.Status.Deadline = &d
		}
		if err := c.Status().Update(ctx, er); err != nil {
			t.Fatal(err)
		}
	}
	in5d, overdue, longAgo := now.Add(5*24*time.Hour), now.Add(-time.Hour), now.Add(-10*24*time.Hour)
	erasure("tenant-a", "adios-jane", v1alpha1.ErasureErasing, &in5d)
	erasure("tenant-a", "adios-john", v1alpha1.ErasureFailed, &overdue)
	erasure("tenant-a", "adios-old", v1alpha1.ErasureCompleted, &longAgo)
	erasure("tenant-b", "adios-new", "", nil)

	bc := func(name, stalledReason string) {
		t.Helper()
		b := &v1alpha1.Broadcast{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "tenant-a"},
			Spec: v1alpha1.BroadcastSpec{Message: v1alpha1.BroadcastMessage{Text: "hello"}}}
		if err := c.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
		b.Status.Phase = v1alpha1.BroadcastRunning
		if stalledReason != "" {
			b.Status.Phase = v1alpha1.BroadcastPaused
			b.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue,
				Reason: stalledReason, Message: "paused", LastTransitionTime: metav1.NewTime(now)}}
		}
		if err := c.Status().Update(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	bc("failing", broadcast.ReasonFailureRatioExceeded)
	bc("sending", "")

	col := newWorkCollector(c, func() time.Time { return now })
	want := `
# HELP inboxchat_broadcast_auto_paused 1 while a Broadcast is paused because too many of its sends failed (spec.maxFailureRatio), else 0.
# TYPE inboxchat_broadcast_auto_paused gauge
inboxchat_broadcast_auto_paused{broadcast="failing",namespace="tenant-a"} 1
inboxchat_broadcast_auto_paused{broadcast="sending",namespace="tenant-a"} 0
# HELP inboxchat_erasure_requests_open ErasureRequests of a namespace not yet Completed (Failed ones included: the answer is still owed).
# TYPE inboxchat_erasure_requests_open gauge
inboxchat_erasure_requests_open{namespace="tenant-a"} 2
inboxchat_erasure_requests_open{namespace="tenant-b"} 1
`
	if err := testutil.CollectAndCompare(col, strings.NewReader(want), "inboxchat_broadcast_auto_paused", "inboxchat_erasure_requests_open"); err != nil {
		t.Error(err)
	}

	// The earliest deadline of tenant-a's open requests is the overdue one;
	// tenant-b's request has no status yet, so its deadline is 30 days from
	// its creation.
	er := &v1alpha1.ErasureRequest{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "tenant-b", Name: "adios-new"}, er); err != nil {
		t.Fatal(err)
	}
	wantB := er.CreationTimestamp.Add(30 * 24 * time.Hour).Sub(now).Seconds()
	got := map[string]float64{}
	for _, m := range collect(t, col, "inboxchat_erasure_next_deadline_seconds") {
		got[m.labels["namespace"]] = m.value
	}
	if len(got) != 2 || got["tenant-a"] != -3600 || got["tenant-b"] != wantB {
		t.Errorf("next deadlines = %v, want tenant-a -3600 (overdue by an hour) and tenant-b %v", got, wantB)
	}

	for _, m := range collect(t, col, "") {
		for k, v := range m.labels {
			if strings.Contains(v, "adios") {
				t.Errorf("an ErasureRequest name reached the metrics: %s{%s=%q}", m.name, k, v)
			}
		}
	}
}

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// collect gathers the collector's gauges named name (every one when empty).
func collect(t *testing.T, col prometheus.Collector, name string) []sample {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(col)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []sample
	for _, f := range families {
		if name != "" && f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			s := sample{name: f.GetName(), labels: map[string]string{}, value: m.GetGauge().GetValue()}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			out = append(out, s)
		}
	}
	return out
}
