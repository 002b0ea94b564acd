package controllers_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

var tenantSeq atomic.Int64

// newTenant returns a minimal valid Tenant with a unique name.
func newTenant(prefix string) *v1alpha1.Tenant {
	name := fmt.Sprintf("%s-%d", prefix, tenantSeq.Add(1))
	return &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.TenantSpec{
			App: v1alpha1.AppSpec{Image: "ghcr.io/inboxchat/app:1", Host: name + ".chat.example"},
			Stores: v1alpha1.StoresSpec{Database: v1alpha1.DatabaseStore{
				Managed: &v1alpha1.ManagedDatabase{Engine: v1alpha1.DatabaseEnginePostgres},
			}},
		},
	}
}

// withMail gives the Tenant an admin and an SMTP Secret pointing at the
// in-process SMTP server, creating the namespace first as a pipeline would.
func withMail(t *v1alpha1.Tenant) *v1alpha1.Tenant {
	t.Spec.Admins = []v1alpha1.TenantAdmin{{Email: "owner@" + t.Name + ".example", User: t.Name + "-owner"}}
	t.Spec.Notifications.SMTPSecretRef = &v1alpha1.SecretReference{Name: "smtp"}
	precreateNamespace(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "smtp"},
		StringData: map[string]string{
			"host": smtp.Host(), "port": fmt.Sprint(smtp.Port()), "username": "operator", "password": "mail-password",
			"from": "InboxChat <noreply@inboxchat.example>", "tls": "starttls",
		},
	})
	return t
}

// precreateNamespace makes the tenant namespace with the adoption label and
// the given objects in it, as a GitOps pipeline does before the Tenant.
func precreateNamespace(t *v1alpha1.Tenant, objs ...client.Object) {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: t.NamespaceName(), Labels: map[string]string{v1alpha1.LabelTenant: t.Name}}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	for _, o := range objs {
		o.SetNamespace(ns.Name)
		Expect(k8s.Create(ctx, o)).To(Succeed())
	}
}

// kstatusOf computes the kstatus verdict the way Flux and Argo CD do.
func kstatusOf(obj client.Object) status.Status {
	GinkgoHelper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	Expect(err).NotTo(HaveOccurred())
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	Expect(err).NotTo(HaveOccurred())
	return res.Status
}

func getTenant(name string) *v1alpha1.Tenant {
	GinkgoHelper()
	t := &v1alpha1.Tenant{}
	Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, t)).To(Succeed())
	t.APIVersion, t.Kind = v1alpha1.GroupVersion.String(), "Tenant"
	return t
}

// tenantStatus polls the kstatus verdict of a Tenant. Before the operator's
// first reconcile a custom resource has no status, which kstatus reads as
// Current; that moment reports "Unreconciled" here, so that a test waiting
// for Current waits for the operator's verdict.
func tenantStatus(name string) func() status.Status {
	return func() status.Status {
		t := getTenant(name)
		if t.Status.ObservedGeneration == 0 && len(t.Status.Conditions) == 0 {
			return "Unreconciled"
		}
		return kstatusOf(t)
	}
}

// nudge changes an annotation so the operator reconciles the Tenant now
// (after the test moved the fake clock, say).
func nudge(name string) {
	GinkgoHelper()
	t := getTenant(name)
	patch := client.MergeFrom(t.DeepCopy())
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	t.Annotations["test.inboxchat.io/nudge"] = fmt.Sprint(time.Now().UnixNano())
	Expect(k8s.Patch(ctx, t, patch)).To(Succeed())
}

func conditionStatus(obj interface{ GetConditions() []metav1.Condition }, typ string) metav1.ConditionStatus {
	c := meta.FindStatusCondition(obj.GetConditions(), typ)
	if c == nil {
		return ""
	}
	return c.Status
}

func condition(obj interface{ GetConditions() []metav1.Condition }, typ string) metav1.Condition {
	c := meta.FindStatusCondition(obj.GetConditions(), typ)
	if c == nil {
		return metav1.Condition{}
	}
	return *c
}

// eventsFor lists the event notes about an object.
func eventsFor(name string) []string {
	GinkgoHelper()
	list := &eventsv1.EventList{}
	Expect(k8s.List(ctx, list)).To(Succeed())
	var notes []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			notes = append(notes, e.Reason+": "+e.Note)
		}
	}
	return notes
}

// mailsTo lists the subjects of the messages the SMTP server got for addr.
func mailsTo(addr string) []string {
	var subjects []string
	for _, m := range smtp.Messages() {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				subjects = append(subjects, m.Subject)
			}
		}
	}
	return subjects
}
