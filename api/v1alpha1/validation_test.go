package v1alpha1_test

import (
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/internal/testenv"
)

// validTenant is a minimal Tenant the API server accepts; entries patch it.
const validTenant = `
apiVersion: inboxchat.io/v1alpha1
kind: Tenant
metadata: {name: acme}
spec:
  app: {image: "ghcr.io/inboxchat/app:1", host: chat.acme.example}
  stores: {database: {managed: {engine: postgres}}}
`

const validBroadcast = `
apiVersion: inboxchat.io/v1alpha1
kind: Broadcast
metadata: {name: b, namespace: validation}
spec:
  message: {text: "Hello {{.FirstName}}"}
`

const validErasure = `
apiVersion: inboxchat.io/v1alpha1
kind: ErasureRequest
metadata: {name: e, namespace: validation}
spec:
  subject: {kind: Lead, id: "42"}
`

const validPolicy = `
apiVersion: inboxchat.io/v1alpha1
kind: PolicyUpdate
metadata: {name: p, namespace: validation}
spec:
  version: "2026-12"
  effectiveAt: "2026-12-01T00:00:00Z"
  documentURL: https://acme.example/privacy
  summary: We keep security logs for 30 days now.
`

// object decodes YAML and applies a JSON-path-free patch: a map of dotted
// spec paths to values (nil deletes).
func object(doc string, set map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	Expect(yaml.NewYAMLOrJSONDecoder(strings.NewReader(doc), 4096).Decode(&u.Object)).To(Succeed())
	for path, v := range set {
		fields := strings.Split(path, ".")
		if v == nil {
			unstructured.RemoveNestedField(u.Object, fields...)
			continue
		}
		Expect(unstructured.SetNestedField(u.Object, v, fields...)).To(Succeed())
	}
	return u
}

// expectRejected creates obj and expects the API server to refuse it with a
// message that contains every fragment (the field, and what is wrong).
func expectRejected(obj *unstructured.Unstructured, fragments ...string) {
	err := k8s.Create(ctx, obj)
	Expect(err).To(HaveOccurred(), "the API server accepted an invalid %s", obj.GetKind())
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "expected an Invalid error, got %v", err)
	for _, f := range fragments {
		Expect(err.Error()).To(ContainSubstring(f))
	}
}

var _ = Describe("the API server validates InboxChat objects", func() {
	BeforeEach(func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "validation"}}
		Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, ns))).To(Succeed())
	})

	It("accepts the minimal valid objects and fills the defaults", func() {
		for _, doc := range []string{validTenant, validBroadcast, validErasure, validPolicy} {
			obj := object(doc, nil)
			obj.SetName(obj.GetName() + "-minimal")
			Expect(k8s.Create(ctx, obj)).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, obj))).To(Succeed()) })
		}
		tn := &unstructured.Unstructured{}
		tn.SetGroupVersionKind(schema.GroupVersionKind{Group: "inboxchat.io", Version: "v1alpha1", Kind: "Tenant"})
		Expect(k8s.Get(ctx, client.ObjectKey{Name: "acme-minimal"}, tn)).To(Succeed())
		Expect(tn.Object).To(HaveKeyWithValue("spec", SatisfyAll(
			HaveKeyWithValue("offboarding", HaveKeyWithValue("policy", "Erase")),
			HaveKeyWithValue("encryption", HaveKeyWithValue("keyRotationInterval", "2160h")),
			HaveKeyWithValue("retention", HaveKeyWithValue("securityLogs", "720h")),
			HaveKeyWithValue("sessions", HaveKeyWithValue("ttl", "24h")),
			HaveKeyWithValue("stores", HaveKeyWithValue("sessions", HaveKey("managed"))),
		)), "the API server should fill the documented defaults")
	})

	DescribeTable("a Tenant is rejected",
		func(set map[string]any, fragments ...string) {
			expectRejected(object(validTenant, set), fragments...)
		},
		Entry("with a host that is not a DNS name", map[string]any{"spec.app.host": "https://chat.acme.example/"}, "spec.app.host", "fully qualified DNS name"),
		Entry("with an upper-case host", map[string]any{"spec.app.host": "Chat.Acme.Example"}, "spec.app.host"),
		Entry("with an unknown database engine", map[string]any{"spec.stores.database.managed.engine": "oracle"}, "spec.stores.database.managed.engine", `"postgres"`),
		Entry("with both a managed and an external database", map[string]any{"spec.stores.database.external": map[string]any{"engine": "postgres", "secretRef": map[string]any{"name": "db"}}}, "spec.stores.database", "exactly one"),
		Entry("with no database at all", map[string]any{"spec.stores.database.managed": nil}, "spec.stores.database", "exactly one"),
		Entry("with no app image", map[string]any{"spec.app.image": nil}, "spec.app.image", "Required"),
		Entry("with negative replicas", map[string]any{"spec.app.replicas": int64(-1)}, "spec.app.replicas"),
		Entry("with a key rotation interval of one hour", map[string]any{"spec.encryption.keyRotationInterval": "1h"}, "spec.encryption.keyRotationInterval", "between 24h and 8760h"),
		Entry("with security logs kept for two years", map[string]any{"spec.retention.securityLogs": "17520h"}, "spec.retention.securityLogs"),
		Entry("with an unknown offboarding policy", map[string]any{"spec.offboarding.policy": "Archive"}, "spec.offboarding.policy"),
		Entry("with a plain-http Graph API URL", map[string]any{"spec.messenger": map[string]any{"pageID": "123", "accessTokenSecretRef": map[string]any{"name": "t"}, "graphAPIURL": "http://graph.facebook.com/v23.0"}}, "spec.messenger.graphAPIURL", "https"),
		Entry("with a Page id that is not numeric", map[string]any{"spec.messenger": map[string]any{"pageID": "my-page", "accessTokenSecretRef": map[string]any{"name": "t"}}}, "spec.messenger.pageID"),
		Entry("with a rate above Messenger's 300/s", map[string]any{"spec.messenger": map[string]any{"pageID": "123", "accessTokenSecretRef": map[string]any{"name": "t"}, "messagesPerSecond": int64(301)}}, "spec.messenger.messagesPerSecond"),
		Entry("with an admin who is both a user and a group", map[string]any{"spec.admins": []any{map[string]any{"email": "a@acme.example", "user": "a", "group": "g"}}}, "spec.admins[0]", "not both"),
		Entry("with an admin e-mail that is not an address", map[string]any{"spec.admins": []any{map[string]any{"email": "not-an-address"}}}, "spec.admins[0].email"),
		Entry("with a name too long for its namespace", map[string]any{"metadata.name": strings.Repeat("a", 57)}, "DNS label of at most 56 characters"),
	)

	DescribeTable("a Broadcast is rejected",
		func(set map[string]any, fragments ...string) {
			expectRejected(object(validBroadcast, set), fragments...)
		},
		Entry("with MESSAGE_TAG and no tag", map[string]any{"spec.messagingType": "MESSAGE_TAG"}, "spec.tag", "tag is required when messagingType is MESSAGE_TAG"),
		Entry("with a tag but messaging type UPDATE", map[string]any{"spec.tag": "ACCOUNT_UPDATE"}, "spec.tag"),
		Entry("with an unknown tag", map[string]any{"spec.messagingType": "MESSAGE_TAG", "spec.tag": "PROMOTION"}, "spec.tag"),
		Entry("with a negative rate", map[string]any{"spec.messagesPerSecond": int64(-5)}, "spec.messagesPerSecond"),
		Entry("with a rate above 300/s", map[string]any{"spec.messagesPerSecond": int64(1000)}, "spec.messagesPerSecond"),
		Entry("with an empty message", map[string]any{"spec.message.text": ""}, "spec.message.text"),
		Entry("with an unknown messaging type", map[string]any{"spec.messagingType": "PROMOTIONAL"}, "spec.messagingType"),
		Entry("with a failure ratio above 1", map[string]any{"spec.maxFailureRatio": "1.5"}, "spec.maxFailureRatio"),
		Entry("with a plain-http button", map[string]any{"spec.message.buttons": []any{map[string]any{"title": "Go", "url": "http://acme.example"}}}, "spec.message.buttons[0].url", "https"),
		Entry("with four buttons", map[string]any{"spec.message.buttons": []any{
			map[string]any{"title": "a", "url": "https://a.example"}, map[string]any{"title": "b", "url": "https://b.example"},
			map[string]any{"title": "c", "url": "https://c.example"}, map[string]any{"title": "d", "url": "https://d.example"}}}, "spec.message.buttons"),
		Entry("with a tag both included and excluded", map[string]any{"spec.audience": map[string]any{"tags": []any{"news"}, "excludeTags": []any{"news"}}}, "spec.audience", "both in audience.tags and audience.excludeTags"),
	)

	DescribeTable("an ErasureRequest is rejected",
		func(set map[string]any, fragments ...string) {
			expectRejected(object(validErasure, set), fragments...)
		},
		Entry("with neither id nor secretRef", map[string]any{"spec.subject.id": nil}, "spec.subject", "exactly one of subject.id and subject.secretRef"),
		Entry("with both id and secretRef", map[string]any{"spec.subject.secretRef": map[string]any{"name": "who"}}, "spec.subject", "exactly one"),
		Entry("with an unknown subject kind", map[string]any{"spec.subject.kind": "Customer"}, "spec.subject.kind"),
		Entry("with an e-mail address as id", map[string]any{"spec.subject.id": "jane@example.com"}, "spec.subject.id"),
		Entry("with an unknown mode", map[string]any{"spec.mode": "Shred"}, "spec.mode"),
		Entry("with no subject", map[string]any{"spec.subject": nil}, "spec.subject", "Required"),
	)

	DescribeTable("a PolicyUpdate is rejected",
		func(set map[string]any, fragments ...string) {
			expectRejected(object(validPolicy, set), fragments...)
		},
		Entry("with no version", map[string]any{"spec.version": nil}, "spec.version", "Required"),
		Entry("with a version holding spaces", map[string]any{"spec.version": "v 2"}, "spec.version"),
		Entry("with no effective date", map[string]any{"spec.effectiveAt": nil}, "spec.effectiveAt", "Required"),
		Entry("with neither a document URL nor a ConfigMap", map[string]any{"spec.documentURL": nil}, "spec", "exactly one of documentURL and documentRef"),
		Entry("with both a document URL and a ConfigMap", map[string]any{"spec.documentRef": map[string]any{"name": "doc", "key": "policy.md"}}, "exactly one of documentURL and documentRef"),
		Entry("with a plain-http document URL", map[string]any{"spec.documentURL": "http://acme.example/privacy"}, "spec.documentURL", "https"),
		Entry("with no summary of the changes", map[string]any{"spec.summary": nil}, "spec.summary", "Required"),
		Entry("with a notification rate of zero", map[string]any{"spec.notify.messagesPerSecond": int64(0)}, "spec.notify.messagesPerSecond"),
	)

	Describe("immutable fields", func() {
		It("refuses to change an ErasureRequest once created", func() {
			obj := object(validErasure, map[string]any{"metadata.name": "immutable"})
			Expect(k8s.Create(ctx, obj)).To(Succeed())
			Expect(unstructured.SetNestedField(obj.Object, "43", "spec", "subject", "id")).To(Succeed())
			err := k8s.Update(ctx, obj)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring("cannot be changed once created"))
		})
		It("refuses to change the message of a Broadcast", func() {
			obj := object(validBroadcast, map[string]any{"metadata.name": "immutable"})
			Expect(k8s.Create(ctx, obj)).To(Succeed())
			Expect(unstructured.SetNestedField(obj.Object, "Other text", "spec", "message", "text")).To(Succeed())
			err := k8s.Update(ctx, obj)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring("message is immutable"))
		})
		It("lets a Broadcast be paused", func() {
			obj := object(validBroadcast, map[string]any{"metadata.name": "pausable"})
			Expect(k8s.Create(ctx, obj)).To(Succeed())
			Expect(unstructured.SetNestedField(obj.Object, true, "spec", "suspend")).To(Succeed())
			Expect(k8s.Update(ctx, obj)).To(Succeed())
		})
	})

	It("accepts every file in config/samples", func() {
		root, err := testenv.RepoRoot()
		Expect(err).NotTo(HaveOccurred())
		files, err := filepath.Glob(filepath.Join(root, "config", "samples", "inboxchat_*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).NotTo(BeEmpty())
		Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-demo"}}))).To(Succeed())
		for _, f := range files {
			data, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
			for {
				u := &unstructured.Unstructured{}
				if err := dec.Decode(&u.Object); err != nil {
					break
				}
				if len(u.Object) == 0 {
					continue
				}
				Expect(k8s.Create(ctx, u, client.DryRunAll)).To(Succeed(), "sample %s (%s %s) was rejected", filepath.Base(f), u.GetKind(), u.GetName())
			}
		}
	})
})
