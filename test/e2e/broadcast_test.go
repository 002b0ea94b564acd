package e2e

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/fixtures"
)

func getBroadcast(name string) *v1alpha1.Broadcast {
	GinkgoHelper()
	bc := &v1alpha1.Broadcast{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: tenantNS, Name: name}, bc)).To(Succeed())
	return bc
}

var _ = Describe("a Broadcast to opted-in leads", Ordered, func() {
	var audience, excluded []string
	BeforeAll(func() {
		s := seeder()
		add := func(prefix string, n int, l fixtures.Lead) []string {
			var psids []string
			for i := 0; i < n; i++ {
				l.PageID, l.PSID, l.FirstName = pageID, fmt.Sprintf("%s-%03d", prefix, i), fmt.Sprintf("Ana%d", i)
				_, err := s.AddLead(ctx, l)
				Expect(err).NotTo(HaveOccurred())
				psids = append(psids, l.PSID)
			}
			return psids
		}
		audience = add("bc-in", 40, fixtures.Lead{OptedIn: true, Tags: []string{"news"}})
		excluded = append(excluded, add("bc-unsub", 3, fixtures.Lead{OptedIn: true, Tags: []string{"news"}, Unsubscribed: true})...)
		excluded = append(excluded, add("bc-noopt", 3, fixtures.Lead{Tags: []string{"news"}})...)
		excluded = append(excluded, add("bc-other", 3, fixtures.Lead{OptedIn: true, Tags: []string{"sports"}})...)
		excluded = append(excluded, add("bc-vip", 2, fixtures.Lead{OptedIn: true, Tags: []string{"news", "vip"}})...)
		excluded = append(excluded, add("bc-old", 2, fixtures.Lead{OptedIn: true, Tags: []string{"news"}, LastInbound: time.Now().Add(-48 * time.Hour)})...)
	})

	It("sends once to every opted-in lead of the audience, each message with a working unsubscribe link", func() {
		bc := &v1alpha1.Broadcast{
			ObjectMeta: metav1.ObjectMeta{Name: "december", Namespace: tenantNS},
			Spec: v1alpha1.BroadcastSpec{
				Message:           v1alpha1.BroadcastMessage{Text: "Hi {{.FirstName}}, new opening hours!"},
				Audience:          v1alpha1.Audience{Tags: []string{"news"}, ExcludeTags: []string{"vip"}},
				MessagingType:     v1alpha1.MessagingTypeResponse,
				MessagesPerSecond: 100,
			},
		}
		Expect(k8s.Create(ctx, bc)).To(Succeed())
		Expect(lifecycle(bc, "Broadcast", phaseIs(string(v1alpha1.BroadcastSucceeded)))).To(inProgressThen(status.CurrentStatus),
			"kstatus: InProgress while it sends, Current once it succeeded")
		got := getBroadcast(bc.Name)
		Expect(got.Status.Sent).To(BeEquivalentTo(len(audience)))
		Expect(got.Status.Failed).To(BeZero())
		Expect(got.Status.SkippedOutsideWindow).To(BeEquivalentTo(2))
		Expect(got.Status.CompletedAt).NotTo(BeNil())

		key := tenantSecret("inboxchat-app")["unsubscribe-key"]
		for _, psid := range audience {
			Expect(graph.CountFor(psid)).To(Equal(1), "lead %s must get exactly one message", psid)
		}
		for _, psid := range excluded {
			Expect(graph.CountFor(psid)).To(BeZero(), "lead %s must not be messaged", psid)
		}
		for _, d := range graph.Deliveries() {
			if !strings.HasPrefix(d.PSID, "bc-in") {
				continue
			}
			Expect(d.Text).To(MatchRegexp(`^Hi Ana\d+, new opening hours!`))
			i := strings.Index(d.Text, "https://e2e.chat.example/unsubscribe/")
			Expect(i).To(BeNumerically(">=", 0), "the message has no unsubscribe link: %q", d.Text)
			token := strings.Fields(d.Text[i+len("https://e2e.chat.example/unsubscribe/"):])[0]
			claims, err := crypto.VerifyUnsubscribe(key, tenantName, token)
			Expect(err).NotTo(HaveOccurred())
			Expect(claims.Broadcast).To(Equal(bc.Name))
		}
		noPersonalData(got, append(audience, "Ana1")...)

		By("exporting the counts as metrics")
		Expect(metricValue("inboxchat_broadcast_messages", map[string]string{"broadcast": bc.Name, "result": "sent"})).To(BeEquivalentTo(len(audience)))
		Expect(metricValue("inboxchat_broadcast_messages", map[string]string{"broadcast": bc.Name, "result": "skipped_outside_window"})).To(BeEquivalentTo(2))
	})

	It("fails before any send when the message template is broken", func() {
		before := len(graph.Deliveries())
		bc := &v1alpha1.Broadcast{
			ObjectMeta: metav1.ObjectMeta{Name: "broken", Namespace: tenantNS},
			Spec:       v1alpha1.BroadcastSpec{Message: v1alpha1.BroadcastMessage{Text: "Hi {{.Nickname}}"}, Audience: v1alpha1.Audience{Tags: []string{"news"}}},
		}
		Expect(k8s.Create(ctx, bc)).To(Succeed())
		Expect(lifecycle(bc, "Broadcast", phaseIs(string(v1alpha1.BroadcastFailed)))).To(failedNeverCurrent(),
			"kstatus: Failed (Stalled) once the template is found broken, never Current")
		Expect(getBroadcast(bc.Name).Status.LastError.Text).To(ContainSubstring("template"))
		Expect(graph.Deliveries()).To(HaveLen(before))
	})
})

var _ = Describe("a Broadcast whose worker is killed, paused and resumed", Ordered, func() {
	var audience []string
	BeforeAll(func() {
		s := seeder()
		for i := 0; i < 60; i++ {
			l := fixtures.Lead{PageID: pageID, PSID: fmt.Sprintf("kr-%03d", i), FirstName: "Bo", OptedIn: true, Tags: []string{"resume"}}
			_, err := s.AddLead(ctx, l)
			Expect(err).NotTo(HaveOccurred())
			audience = append(audience, l.PSID)
		}
		graph.SetLatency(20 * time.Millisecond)
		DeferCleanup(func() { graph.SetLatency(0) })
	})

	It("never messages a lead twice and leaves nobody unaccounted for", func() {
		bc := &v1alpha1.Broadcast{
			ObjectMeta: metav1.ObjectMeta{Name: "resume", Namespace: tenantNS},
			Spec: v1alpha1.BroadcastSpec{
				Message:           v1alpha1.BroadcastMessage{Text: "Hello {{.FirstName}}"},
				Audience:          v1alpha1.Audience{Tags: []string{"resume"}},
				MessagesPerSecond: 15,
			},
		}
		Expect(k8s.Create(ctx, bc)).To(Succeed())
		sentSoFar := func() int {
			n := 0
			for _, p := range audience {
				n += graph.CountFor(p)
			}
			return n
		}
		By("killing the worker's process mid-run")
		Eventually(sentSoFar).Should(BeNumerically(">=", 10))
		job := &batchv1.Job{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: tenantNS, Name: "inboxchat-broadcast-resume"}, job)).To(Succeed())
		Expect(node.Kill(job)).To(BeTrue())

		By("pausing with spec.suspend once the new pod is sending")
		Eventually(sentSoFar).Should(BeNumerically(">=", 25), func() string { return fmt.Sprintf("%+v", getBroadcast(bc.Name).Status) })
		cur := getBroadcast(bc.Name)
		patch := client.MergeFrom(cur.DeepCopy())
		cur.Spec.Suspend = true
		Expect(k8s.Patch(ctx, cur, patch)).To(Succeed())
		Eventually(func() v1alpha1.BroadcastPhase { return getBroadcast(bc.Name).Status.Phase }).Should(Equal(v1alpha1.BroadcastPaused))
		Eventually(func() bool { return node.Running(job) }).Should(BeFalse())
		paused := sentSoFar()
		Consistently(sentSoFar, 2*time.Second).Should(Equal(paused), "a paused broadcast sends nothing")
		Expect(paused).To(BeNumerically("<", len(audience)))

		By("resuming")
		cur = getBroadcast(bc.Name)
		patch = client.MergeFrom(cur.DeepCopy())
		cur.Spec.Suspend = false
		Expect(k8s.Patch(ctx, cur, patch)).To(Succeed())
		Eventually(func() v1alpha1.BroadcastPhase { return getBroadcast(bc.Name).Status.Phase }, 2*time.Minute).Should(Equal(v1alpha1.BroadcastSucceeded))

		got := getBroadcast(bc.Name)
		for _, p := range audience {
			Expect(graph.CountFor(p)).To(BeNumerically("<=", 1), "lead %s was messaged twice", p)
		}
		Expect(got.Status.Audience).To(BeEquivalentTo(len(audience)))
		// A kill between a send and its ledger write leaves that one lead's
		// outcome unknown: counted failed, never resent.
		Expect(got.Status.Sent+got.Status.Failed).To(BeEquivalentTo(len(audience)), "every lead of the audience ends sent or failed")
		Expect(int64(sentSoFar())).To(BeNumerically(">=", got.Status.Sent))
	})
})
