package operator

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
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
type workCollector struct {
	reader                            client.Reader
	messages, lastError, mails, phase *prometheus.Desc
}

func newWorkCollector(r client.Reader) *workCollector {
	return &workCollector{reader: r,
		messages:  prometheus.NewDesc("inboxchat_broadcast_messages", "Messages of a Broadcast by result (sent, failed, skipped_unsubscribed, skipped_outside_window, skipped_unreachable).", []string{"namespace", "broadcast", "result"}, nil),
		lastError: prometheus.NewDesc("inboxchat_broadcast_last_error_code", "Graph API error code of a Broadcast's last failure (0: none).", []string{"namespace", "broadcast"}, nil),
		mails:     prometheus.NewDesc("inboxchat_policy_notifications", "E-mails of a PolicyUpdate by result (recipients, sent, failed, accepted).", []string{"namespace", "policyupdate", "result"}, nil),
		phase:     prometheus.NewDesc("inboxchat_objects_by_phase", "Broadcasts, ErasureRequests and PolicyUpdates by phase.", []string{"kind", "phase"}, nil),
	}
}

func (c *workCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.messages
	ch <- c.lastError
	ch <- c.mails
	ch <- c.phase
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
		for _, e := range ers.Items {
			phases[[2]string{"ErasureRequest", string(e.Status.Phase)}]++
		}
	}
	for k, v := range phases {
		ch <- prometheus.MustNewConstMetric(c.phase, prometheus.GaugeValue, v, k[0], k[1])
	}
}
