package operator

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/controllers"
	"github.com/inboxchat/inboxchat-operator/internal/broadcast"
)

// tenantCollector reports tenants by condition at scrape time, from the
// informer cache, so it costs no API request.
type tenantCollector struct {
	reader client.Reader
	desc   *prometheus.Desc
}

func newTenantCollector(r client.Reader) *tenantCollector {
	return &tenantCollector{reader: r, desc: prometheus.NewDesc(
		"inboxchat_tenants",
		"Tenants by condition type and status (Ready, Reconciling, Stalled and the detail conditions).",
		[]string{"condition", "status"}, nil)}
}

func (c *tenantCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *tenantCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list := &v1alpha1.TenantList{}
	if err := c.reader.List(ctx, list); err != nil {
		return
	}
	types := []string{v1alpha1.ConditionReady, v1alpha1.ConditionReconciling, v1alpha1.ConditionStalled,
		v1alpha1.ConditionNamespaceReady, v1alpha1.ConditionSecretsReady, v1alpha1.ConditionCertificateReady,
		v1alpha1.ConditionStoresReady, v1alpha1.ConditionAppAvailable}
	counts := map[[2]string]float64{}
	for _, typ := range types {
		for _, st := range []string{"True", "False", "Unknown"} {
			counts[[2]string{typ, st}] = 0
		}
	}
	for _, t := range list.Items {
		for _, typ := range types {
			st := "Unknown"
			if cond := meta.FindStatusCondition(t.Status.Conditions, typ); cond != nil {
				st = string(cond.Status)
			} else if typ == v1alpha1.ConditionReconciling || typ == v1alpha1.ConditionStalled {
				st = "False" // kstatus: an absent abnormal-true condition is False
			}
			counts[[2]string{typ, st}]++
		}
	}
	for k, v := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, k[0], k[1])
	}
}

// workCollector reports the progress of Broadcasts and PolicyUpdates from
// their status, at scrape time, from the cache: messages by outcome and
// Graph error code, e-mails by outcome, and objects by phase. The workers
// are separate processes, so their status is where the counts live.
//
// ErasureRequests are reported per namespace only: their names are chosen by
// people and may name the subject ("adios-jane"), so they stay out of the
// labels.
type workCollector struct {
	reader                            client.Reader
	now                               func() time.Time
	messages, lastError, mails, phase *prometheus.Desc
	autoPaused, erasureOpen, nextDue  *prometheus.Desc
}

func newWorkCollector(r client.Reader, now func() time.Time) *workCollector {
	return &workCollector{reader: r, now: now,
		messages:    prometheus.NewDesc("inboxchat_broadcast_messages", "Messages of a Broadcast by result (sent, failed, skipped_unsubscribed, skipped_outside_window, skipped_unreachable).", []string{"namespace", "broadcast", "result"}, nil),
		lastError:   prometheus.NewDesc("inboxchat_broadcast_last_error_code", "Graph API error code of a Broadcast's last failure (0: none).", []string{"namespace", "broadcast"}, nil),
		autoPaused:  prometheus.NewDesc("inboxchat_broadcast_auto_paused", "1 while a Broadcast is paused because too many of its sends failed (spec.maxFailureRatio), else 0.", []string{"namespace", "broadcast"}, nil),
		mails:       prometheus.NewDesc("inboxchat_policy_notifications", "E-mails of a PolicyUpdate by result (recipients, sent, failed, accepted).", []string{"namespace", "policyupdate", "result"}, nil),
		phase:       prometheus.NewDesc("inboxchat_objects_by_phase", "Broadcasts, ErasureRequests and PolicyUpdates by phase.", []string{"kind", "phase"}, nil),
		erasureOpen: prometheus.NewDesc("inboxchat_erasure_requests_open", "ErasureRequests of a namespace not yet Completed (Failed ones included: the answer is still owed).", []string{"namespace"}, nil),
		nextDue:     prometheus.NewDesc("inboxchat_erasure_next_deadline_seconds", "Seconds until the earliest deadline (GDPR Art. 12(3)) of a namespace's open ErasureRequests; negative once overdue.", []string{"namespace"}, nil),
	}
}

func (c *workCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.messages, c.lastError, c.autoPaused, c.mails, c.phase, c.erasureOpen, c.nextDue} {
		ch <- d
	}
}

func (c *workCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	phases := map[[2]string]float64{}
	bcs := &v1alpha1.BroadcastList{}
	if err := c.reader.List(ctx, bcs); err == nil {
		for _, b := range bcs.Items {
			s := b.Status
			for result, v := range map[string]int64{"sent": s.Sent, "failed": s.Failed, "skipped_unsubscribed": s.SkippedUnsubscribed,
				"skipped_outside_window": s.SkippedOutsideWindow, "skipped_unreachable": s.SkippedUnreachable} {
				ch <- prometheus.MustNewConstMetric(c.messages, prometheus.GaugeValue, float64(v), b.Namespace, b.Name, result)
			}
			code := 0.0
			if s.LastError != nil {
				code = float64(s.LastError.Code)
			}
			ch <- prometheus.MustNewConstMetric(c.lastError, prometheus.GaugeValue, code, b.Namespace, b.Name)
			paused := 0.0
			if cond := meta.FindStatusCondition(s.Conditions, v1alpha1.ConditionStalled); cond != nil &&
				cond.Status == metav1.ConditionTrue && cond.Reason == broadcast.ReasonFailureRatioExceeded {
				paused = 1
			}
			ch <- prometheus.MustNewConstMetric(c.autoPaused, prometheus.GaugeValue, paused, b.Namespace, b.Name)
			phases[[2]string{"Broadcast", string(s.Phase)}]++
		}
	}
	pus := &v1alpha1.PolicyUpdateList{}
	if err := c.reader.List(ctx, pus); err == nil {
		for _, p := range pus.Items {
			s := p.Status
			for result, v := range map[string]int64{"recipients": s.Recipients, "sent": s.Sent, "failed": s.Failed, "accepted": s.Accepted} {
				ch <- prometheus.MustNewConstMetric(c.mails, prometheus.GaugeValue, float64(v), p.Namespace, p.Name, result)
			}
			phases[[2]string{"PolicyUpdate", string(s.Phase)}]++
		}
	}
	ers := &v1alpha1.ErasureRequestList{}
	if err := c.reader.List(ctx, ers); err == nil {
		open, due := map[string]float64{}, map[string]time.Time{}
		for _, e := range ers.Items {
			phases[[2]string{"ErasureRequest", string(e.Status.Phase)}]++
			if e.Status.Phase == v1alpha1.ErasureCompleted {
				continue
			}
			open[e.Namespace]++
			// Before its first reconcile a request has no deadline in its
			// status yet; it is the same 30 days from creation.
			deadline := e.CreationTimestamp.Add(controllers.ErasureAnswerPeriod)
			if e.Status.Deadline != nil {
				deadline = e.Status.Deadline.Time
			}
			if d, ok := due[e.Namespace]; !ok || deadline.Before(d) {
				due[e.Namespace] = deadline
			}
		}
		now := c.now()
		for ns, n := range open {
			ch <- prometheus.MustNewConstMetric(c.erasureOpen, prometheus.GaugeValue, n, ns)
			ch <- prometheus.MustNewConstMetric(c.nextDue, prometheus.GaugeValue, due[ns].Sub(now).Seconds(), ns)
		}
	}
	for k, v := range phases {
		ch <- prometheus.MustNewConstMetric(c.phase, prometheus.GaugeValue, v, k[0], k[1])
	}
}
