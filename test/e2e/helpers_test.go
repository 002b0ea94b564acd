package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/fixtures"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// tenantSecret reads a Secret the operator generated for the tenant.
func tenantSecret(name string) map[string][]byte {
	GinkgoHelper()
	s := &corev1.Secret{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: tenantNS, Name: name}, s)).To(Succeed())
	return s.Data
}

// keyring is the tenant keyring the operator generated.
func keyring() *crypto.Keyring {
	GinkgoHelper()
	kr, err := crypto.KeyringFromSecretData(tenantSecret("inboxchat-keyring"))
	Expect(err).NotTo(HaveOccurred())
	return kr
}

// seeder writes app data the way the tenant's app does, with the keys the
// operator generated.
func seeder() *fixtures.Seeder {
	GinkgoHelper()
	return &fixtures.Seeder{DB: db, Engine: schema.Postgres, Keyring: keyring(), BlindIndexKey: tenantSecret("inboxchat-app")["blind-index-key"]}
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// piiSet remembers the personal data the specs used, for the log scan.
type piiSet struct {
	mu sync.Mutex
	v  []string
}

func (p *piiSet) add(vs ...string) { p.mu.Lock(); p.v = append(p.v, vs...); p.mu.Unlock() }
func (p *piiSet) values() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.v...)
}

var (
	logs         syncBuffer
	personalData piiSet
)

// noPersonalData checks that none of the values appear in the object's
// status or in any event, and has the suite check the logs for them too.
func noPersonalData(obj client.Object, values ...string) {
	GinkgoHelper()
	personalData.add(values...)
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	dump := fmt.Sprintf("%+v", obj)
	list := &eventsv1.EventList{}
	Expect(k8s.List(ctx, list)).To(Succeed())
	for _, e := range list.Items {
		dump += "\n" + e.Note
	}
	for _, v := range values {
		Expect(strings.Contains(dump, v)).To(BeFalse(), "personal data %q appears in status or events", v)
	}
}

// metricValue reads a gauge of the operator's metrics registry.
func metricValue(name string, labels map[string]string) float64 {
	GinkgoHelper()
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue next
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	Fail(fmt.Sprintf("no metric %s with %v", name, labels))
	return 0
}

// blindIndex is the lookup value of a PSID, as the app computes it.
func blindIndex(key []byte, psid string) []byte { return crypto.BlindIndex(key, "psid", psid) }
