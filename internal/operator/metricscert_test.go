package operator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/inboxchat/inboxchat-operator/internal/pki"
)

// The metrics server serves the certificate of --metrics-cert-dir, so a
// scraper (a ServiceMonitor with the issuer's ca.crt) verifies it by name.
func TestMetricsServeTheGivenCertificate(t *testing.T) {
	const host = "inboxchat-operator-metrics.inboxchat-system.svc"
	now := time.Now()
	ca, err := pki.NewCA("metrics test CA", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServing([]string{host}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()

	opts, err := metricsOptions(Options{MetricsAddr: addr, SecureMetrics: true, MetricsCertDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	opts.FilterProvider = nil // TestMetricsAuth covers the authentication filter
	srv, err := metricsserver.NewServer(opts, &rest.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-errc })

	get := func(roots *x509.CertPool) error {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host}}}
		resp, err := c.Get("https://" + addr + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	}
	trusted := x509.NewCertPool()
	trusted.AddCert(ca.Certificate())
	gomega.NewWithT(t).Eventually(func() error { return get(trusted) }).WithTimeout(10*time.Second).WithPolling(50*time.Millisecond).
		Should(gomega.Succeed(), "a scraper that trusts the issuing CA cannot scrape")
	other, err := pki.NewCA("another CA", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	untrusted := x509.NewCertPool()
	untrusted.AddCert(other.Certificate())
	if err := get(untrusted); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a scraper that trusts another CA must fail verification, got %v", err)
	}
}

func TestMetricsCertDirMustHoldTheCertificate(t *testing.T) {
	dir := t.TempDir()
	if _, err := metricsOptions(Options{MetricsAddr: ":0", SecureMetrics: true, MetricsCertDir: dir}); err == nil || !strings.Contains(err.Error(), "tls.crt") {
		t.Fatalf("an empty certificate directory must be refused, naming the file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := metricsOptions(Options{MetricsAddr: ":0", SecureMetrics: true, MetricsCertDir: dir}); err == nil || !strings.Contains(err.Error(), "tls.key") {
		t.Fatalf("a directory without the key must be refused, naming it: %v", err)
	}
	if _, err := metricsOptions(Options{MetricsAddr: ":0", SecureMetrics: false, MetricsCertDir: dir}); err == nil {
		t.Fatal("a certificate directory with plain-HTTP metrics must be refused")
	}
}
