package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

func TestNewCA(t *testing.T) {
	cert := testCA.Certificate()
	if !cert.IsCA || !cert.MaxPathLenZero || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("not a leaf-signing CA: IsCA %v, MaxPathLenZero %v, KeyUsage %v", cert.IsCA, cert.MaxPathLenZero, cert.KeyUsage)
	}
	if key, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || key.Curve != elliptic.P256() {
		t.Errorf("the CA key is %T, want ECDSA P-256", cert.PublicKey)
	}
	if cert.Subject.CommonName != "inboxchat-operator test CA" {
		t.Errorf("common name = %q", cert.Subject.CommonName)
	}
	if !cert.NotAfter.Equal(t0.Add(10*year)) || cert.NotBefore.After(t0) {
		t.Errorf("valid %v to %v, want from before %v to %v", cert.NotBefore, cert.NotAfter, t0, t0.Add(10*year))
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Errorf("the CA is not self-signed: %v", err)
	}
	if _, err := NewCA("x", t0, 0); err == nil {
		t.Error("a CA without validity was made")
	}
}

func TestLoadCA(t *testing.T) {
	other, err := NewCA("other", t0, year)
	if err != nil {
		t.Fatal(err)
	}
	leafPEM, leafKeyPEM, err := testCA.IssueServing([]string{host}, t0, serves)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func() []byte {
		block, _ := pem.Decode(testCA.KeyPEM)
		key, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}()
	tests := []struct {
		name            string
		certPEM, keyPEM []byte
		wantErr         string // "" when the CA must load
	}{
		{"as made", testCA.CertPEM, testCA.KeyPEM, ""},
		{"PKCS #8 key", testCA.CertPEM, pkcs8, ""},
		{"another CA's key", testCA.CertPEM, other.KeyPEM, "does not match"},
		{"a leaf certificate", leafPEM, leafKeyPEM, "not a CA"},
		{"no certificate", nil, testCA.KeyPEM, "not a PEM certificate"},
		{"no key", testCA.CertPEM, nil, "not PEM"},
		{"certificate as key", testCA.CertPEM, testCA.CertPEM, `"CERTIFICATE" is not a private key`},
		{"garbled key", testCA.CertPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("nope")}), "cannot be read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ca, err := LoadCA(tc.certPEM, tc.keyPEM)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("the CA did not load: %v", err)
			case tc.wantErr == "":
				if _, _, err := ca.IssueServing([]string{host}, t0, serves); err != nil {
					t.Fatalf("the loaded CA cannot issue: %v", err)
				}
			case err == nil || !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("want an error saying %q, got %v", tc.wantErr, err)
			}
		})
	}
}

func TestVerifyServingRejectsAnotherCA(t *testing.T) {
	certPEM, _ := issue(t, t0, serves, host)
	other, err := NewCA("other", t0, year)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.VerifyServing(certPEM, host, t0); err == nil {
		t.Fatal("a certificate verified against a CA that did not issue it")
	}
	if err := testCA.VerifyServing(certPEM, host, t0); err != nil {
		t.Fatalf("a certificate does not verify against its CA: %v", err)
	}
}

func TestRandomSerial(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		sn, err := randomSerial()
		if err != nil {
			t.Fatal(err)
		}
		if sn.Sign() <= 0 || sn.BitLen() > 127 || seen[sn.String()] {
			t.Fatalf("serial %v is not positive, at most 127 bits and unique", sn)
		}
		seen[sn.String()] = true
	}
}
