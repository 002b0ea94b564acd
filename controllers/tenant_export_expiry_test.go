package controllers_test

import (
	"fmt"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/controllers"
)

var _ = Describe("a namespace kept for an offboarding export", func() {
	var exportSeq int

	// keptNamespace makes a namespace as offboarding with an export leaves
	// it: labelled with its expiry, released by (and marked as the export
	// of) a Tenant that no longer exists.
	keptNamespace := func(expiresAt time.Time, retainedFrom string) *corev1.Namespace {
		GinkgoHelper()
		exportSeq++
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("tenant-left-%d", exportSeq),
			Labels: map[string]string{
				v1alpha1.LabelManagedBy:          v1alpha1.ManagedByValue,
				v1alpha1.LabelTenant:             fmt.Sprintf("left-%d", exportSeq),
				controllers.LabelExportExpiresAt: strconv.FormatInt(expiresAt.Unix(), 10),
			},
			Annotations: map[string]string{
				"inboxchat.io/retained-from": retainedFrom,
				"inboxchat.io/export-of":     "uid-of-the-leaver",
			},
		}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())
		return ns
	}
	// touch changes an annotation so the operator looks at the namespace
	// now (after the test moved the fake clock).
	touch := func(ns *corev1.Namespace) {
		GinkgoHelper()
		cur := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ns), cur)).To(Succeed())
		patch := client.MergeFrom(cur.DeepCopy())
		cur.Annotations["test.inboxchat.io/nudge"] = fmt.Sprint(time.Now().UnixNano())
		Expect(k8s.Patch(ctx, cur, patch)).To(Succeed())
	}
	deleting := func(ns *corev1.Namespace) func() bool {
		return func() bool {
			cur := &corev1.Namespace{}
			err := k8s.Get(ctx, client.ObjectKeyFromObject(ns), cur)
			return apierrors.IsNotFound(err) || (err == nil && !cur.DeletionTimestamp.IsZero())
		}
	}

	It("is deleted once the export expires, not before", func() {
		ns := keptNamespace(clock.Now().Add(time.Hour), "uid-of-the-leaver")
		touch(ns)
		Consistently(deleting(ns), 2*time.Second).Should(BeFalse(), "the namespace was deleted before its export expired")

		clock.Step(61 * time.Minute)
		touch(ns)
		Eventually(deleting(ns)).Should(BeTrue(), "the namespace of an expired export was not deleted")
	})

	It("is left alone, and loses its export marks, once a Tenant has taken it over", func() {
		// Adopted by a Tenant of the same name since, which later left it
		// with policy Retain: it now holds that Tenant's data.
		ns := keptNamespace(clock.Now().Add(time.Hour), "uid-of-a-later-tenant")
		clock.Step(2 * time.Hour)
		touch(ns)
		Eventually(func() map[string]string {
			cur := &corev1.Namespace{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ns), cur)).To(Succeed())
			return cur.Labels
		}).ShouldNot(HaveKey(controllers.LabelExportExpiresAt))
		Consistently(deleting(ns), 2*time.Second).Should(BeFalse(), "a namespace a later Tenant retained was deleted")
	})

	It("is adopted by a new Tenant of the same name and loses its export marks", func() {
		t := newTenant("comeback")
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: t.NamespaceName(),
			Labels: map[string]string{
				v1alpha1.LabelManagedBy:          v1alpha1.ManagedByValue,
				v1alpha1.LabelTenant:             t.Name,
				controllers.LabelExportExpiresAt: strconv.FormatInt(clock.Now().Add(time.Minute).Unix(), 10),
			},
			Annotations: map[string]string{"inboxchat.io/retained-from": "uid-of-the-leaver", "inboxchat.io/export-of": "uid-of-the-leaver"},
		}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())
		Expect(k8s.Create(ctx, t)).To(Succeed())
		Eventually(func() map[string]string {
			cur := &corev1.Namespace{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ns), cur)).To(Succeed())
			return cur.Labels
		}).ShouldNot(HaveKey(controllers.LabelExportExpiresAt), "the adopted namespace still carries the export expiry")
		clock.Step(2 * time.Minute)
		touch(ns)
		Consistently(deleting(ns), 2*time.Second).Should(BeFalse(), "the namespace a Tenant adopted was deleted")
	})
})
