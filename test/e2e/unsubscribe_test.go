package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/fixtures"
)

// startUnsubscribeServer runs the operator binary's unsubscribe subcommand,
// as the tenant's unsubscribe Deployment does, on a loopback port.
func startUnsubscribeServer() string {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	Expect(os.WriteFile(filepath.Join(dir, "unsubscribe-key"), tenantSecret("inboxchat-app")["unsubscribe-key"], 0o600)).To(Succeed())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	Expect(l.Close()).To(Succeed())
	cmd := exec.Command(operatorBinary, "unsubscribe", "--listen="+addr, "--tenant="+tenantName, "--app-secret-dir="+dir)
	cmd.Env = append(os.Environ(), "INBOXCHAT_DATABASE_ENGINE=postgres", "INBOXCHAT_DATABASE_DSN="+dbDSN)
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	base := "http://" + addr
	Eventually(func() error {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}).Should(Succeed())
	return base
}

func unsubscribedAt(psid string) *time.Time {
	GinkgoHelper()
	var at *time.Time
	// Leads are found by their blind index, as the app finds them.
	idx := seeder().BlindIndexKey
	Expect(db.QueryRowContext(ctx, `SELECT unsubscribed_at FROM leads WHERE psid_bidx = $1`, blindIndex(idx, psid)).Scan(&at)).To(Succeed())
	return at
}

var _ = Describe("the unsubscribe link of a broadcast message", Ordered, func() {
	const psid = "unsub-round-trip"
	var link string
	BeforeAll(func() {
		_, err := seeder().AddLead(ctx, fixtures.Lead{PageID: pageID, PSID: psid, FirstName: "Cy", OptedIn: true, Tags: []string{"roundtrip"}})
		Expect(err).NotTo(HaveOccurred())
		bc := &v1alpha1.Broadcast{ObjectMeta: metav1.ObjectMeta{Name: "roundtrip-1", Namespace: tenantNS},
			Spec: v1alpha1.BroadcastSpec{Message: v1alpha1.BroadcastMessage{Text: "Hi {{.FirstName}}"}, Audience: v1alpha1.Audience{Tags: []string{"roundtrip"}}}}
		Expect(k8s.Create(ctx, bc)).To(Succeed())
		Eventually(func() v1alpha1.BroadcastPhase { return getBroadcast(bc.Name).Status.Phase }).Should(Equal(v1alpha1.BroadcastSucceeded))
		for _, d := range graph.Deliveries() {
			if d.PSID == psid {
				i := strings.Index(d.Text, "https://")
				link = strings.Fields(d.Text[i:])[0]
			}
		}
		Expect(link).To(HavePrefix("https://e2e.chat.example/unsubscribe/"))
	})

	It("confirms on GET, records the opt-out on POST, and the next broadcast skips the lead", func() {
		base := startUnsubscribeServer()
		path := strings.TrimPrefix(link, "https://e2e.chat.example")

		resp, err := http.Get(base + path)
		Expect(err).NotTo(HaveOccurred())
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		Expect(string(body)).To(ContainSubstring("<form"))
		Expect(string(body)).NotTo(ContainSubstring(psid))
		Expect(unsubscribedAt(psid)).To(BeNil(), "GET must not unsubscribe")

		resp, err = http.Post(base+path, "application/x-www-form-urlencoded", nil)
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		first := unsubscribedAt(psid)
		Expect(first).NotTo(BeNil())
		resp, err = http.Post(base+path, "application/x-www-form-urlencoded", nil)
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(unsubscribedAt(psid).Equal(*first)).To(BeTrue(), "a second POST keeps the first opt-out time")

		bc := &v1alpha1.Broadcast{ObjectMeta: metav1.ObjectMeta{Name: "roundtrip-2", Namespace: tenantNS},
			Spec: v1alpha1.BroadcastSpec{Message: v1alpha1.BroadcastMessage{Text: "Hi again {{.FirstName}}"}, Audience: v1alpha1.Audience{Tags: []string{"roundtrip"}}}}
		Expect(k8s.Create(ctx, bc)).To(Succeed())
		Eventually(func() v1alpha1.BroadcastPhase { return getBroadcast(bc.Name).Status.Phase }).Should(Equal(v1alpha1.BroadcastSucceeded))
		Expect(graph.CountFor(psid)).To(Equal(1), "the unsubscribed lead gets no second message")
	})

	DescribeTable("refuses a bad token with a 400 page and no write",
		func(mangle func(string) string) {
			base := startUnsubscribeServer()
			path := strings.TrimPrefix(link, "https://e2e.chat.example")
			resp, err := http.Post(base+mangle(path), "application/x-www-form-urlencoded", nil)
			Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
		},
		Entry("truncated", func(p string) string { return p[:len(p)-5] }),
		Entry("forged signature", func(p string) string {
			return p[:len(p)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(p, "AA")]
		}),
		Entry("garbage", func(string) string { return "/unsubscribe/" + fmt.Sprint("not-a-token") }),
	)
})
