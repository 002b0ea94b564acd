package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// CA is a certificate authority that issues serving certificates.
type CA struct {
	// CertPEM is the CA certificate, PEM-encoded: what clients trust
	// (ca.crt).
	CertPEM []byte
	// KeyPEM is the CA's private key, PEM-encoded.
	KeyPEM []byte

	cert *x509.Certificate
	key  crypto.Signer
}

// clockSkew backdates NotBefore so that a fresh certificate is already
// valid on machines whose clocks run a little behind.
const clockSkew = 5 * time.Minute

// NewCA makes a self-signed ECDSA P-256 CA named commonName, valid from now
// (less a few minutes for clock skew) for validity. It signs leaf
// certificates only (path length zero).
func NewCA(commonName string, now time.Time, validity time.Duration) (*CA, error) {
	if validity <= 0 {
		return nil, errors.New("pki: a CA needs a positive validity")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	sn, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"inboxchat-operator"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: creating the CA certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return LoadCA(encodeCert(der), keyPEM)
}

// LoadCA reads a CA from its PEM certificate and key (an "EC PRIVATE KEY" or
// PKCS #8 "PRIVATE KEY" block). It refuses a certificate that is not a CA
// and a key that does not belong to the certificate.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: the CA certificate: %w", err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, errors.New("pki: the certificate is not a CA")
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("pki: the CA certificate may not sign certificates")
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: the CA key: %w", err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("pki: the CA key does not match its certificate")
	}
	return &CA{CertPEM: certPEM, KeyPEM: keyPEM, cert: cert, key: key}, nil
}

// Certificate is the parsed CA certificate; RenewAt(ca.Certificate()) tells
// when the CA itself should be replaced. The caller must not modify it.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// VerifyServing checks that certPEM was issued by this CA, is valid at now
// and serves host (a DNS name or an IP address). A certificate issued by an
// earlier CA fails.
func (ca *CA) VerifyServing(certPEM []byte, host string, now time.Time) error {
	cert, err := parseCert(certPEM)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	_, err = cert.Verify(x509.VerifyOptions{
		DNSName:     host,
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("pki: the certificate does not verify against the CA: %w", err)
	}
	return nil
}

// serialLimit bounds serial numbers to 127 bits, so that they stay positive
// and within the 20 octets RFC 5280 allows.
var serialLimit = new(big.Int).Lsh(big.NewInt(1), 127)

// randomSerial returns a random, positive certificate serial number.
func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, serialLimit)
	if err != nil {
		return nil, err
	}
	return n.Add(n, big.NewInt(1)), nil
}
