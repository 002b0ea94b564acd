package webhooks_test

import (
	"crypto/x509"
	"encoding/pem"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/internal/webhooks"
)

func parseCert(certPEM []byte) *x509.Certificate {
	GinkgoHelper()
	block, _ := pem.Decode(certPEM)
	Expect(block).NotTo(BeNil())
	c, err := x509.ParseCertificate(block.Bytes)
	Expect(err).NotTo(HaveOccurred())
	return c
}

var _ = Describe("The certificate rotator", func() {
	It("renews at two thirds of the lifetime, chains to the operator CA and restores a lost CA bundle", func() {
		// A configuration of its own, so the suite's server keeps working.
		name := "rotation-test"
		side := admissionregistrationv1.SideEffectClassNone
		path := "/validate"
		Expect(k8s.Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name: "vrotation.inboxchat.io", AdmissionReviewVersions: []string{"v1"}, SideEffects: &side,
				ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: operatorNamespace, Name: "svc", Path: &path}},
				Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{"inboxchat.io"}, APIVersions: []string{"v1alpha1"}, Resources: []string{"nothing"}}}},
			}},
		})).To(Succeed())

		start := time.Now().Truncate(time.Second)
		clock := clocktesting.NewFakeClock(start)
		r := &webhooks.CertRotator{Client: k8s, APIReader: k8s, Namespace: operatorNamespace, ConfigurationName: name,
			Hosts: []string{"inboxchat-webhook-service.inboxchat-system.svc"}, Clock: clock, Validity: 30 * 24 * time.Hour}
		Expect(r.Ready(nil)).NotTo(Succeed(), "not ready before the first sync")
		Expect(r.Sync(ctx)).To(Succeed())
		Expect(r.Ready(nil)).To(Succeed())
		first := parseCert(r.CertificatePEM())
		Expect(first.DNSNames).To(ConsistOf("inboxchat-webhook-service.inboxchat-system.svc"))

		ca := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: "inboxchat-ca"}, ca)).To(Succeed())
		pool := x509.NewCertPool()
		Expect(pool.AppendCertsFromPEM(ca.Data[corev1.TLSCertKey])).To(BeTrue())
		_, err := first.Verify(x509.VerifyOptions{Roots: pool, DNSName: "inboxchat-webhook-service.inboxchat-system.svc", CurrentTime: start,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		Expect(err).NotTo(HaveOccurred())

		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, vwc)).To(Succeed())
		Expect(vwc.Webhooks[0].ClientConfig.CABundle).To(Equal(ca.Data[corev1.TLSCertKey]))

		clock.Step(19 * 24 * time.Hour)
		Expect(r.Sync(ctx)).To(Succeed())
		Expect(parseCert(r.CertificatePEM()).SerialNumber).To(Equal(first.SerialNumber), "kept before two thirds of 30 days")

		clock.Step(24 * time.Hour)
		Expect(r.Sync(ctx)).To(Succeed())
		renewed := parseCert(r.CertificatePEM())
		Expect(renewed.SerialNumber).NotTo(Equal(first.SerialNumber), "renewed after 20 days")
		Expect(renewed.NotAfter).To(BeTemporally(">", first.NotAfter))

		// A `helm upgrade` renders the configuration without a bundle.
		vwc.Webhooks[0].ClientConfig.CABundle = nil
		Expect(k8s.Update(ctx, vwc)).To(Succeed())
		Expect(r.Sync(ctx)).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, vwc)).To(Succeed())
		Expect(vwc.Webhooks[0].ClientConfig.CABundle).To(Equal(ca.Data[corev1.TLSCertKey]))
	})

	It("says what is missing when the configuration does not exist", func() {
		r := &webhooks.CertRotator{Client: k8s, APIReader: k8s, Namespace: operatorNamespace, ConfigurationName: "absent", Hosts: []string{"svc.ns.svc"}}
		err := r.Sync(ctx)
		Expect(err).To(MatchError(ContainSubstring("ValidatingWebhookConfiguration absent does not exist")))
		Expect(r.Ready(nil)).To(MatchError(ContainSubstring("not injected")))
	})
})
