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
