package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// PEM block types.
const (
	pemCertificate  = "CERTIFICATE"
	pemECPrivateKey = "EC PRIVATE KEY"
	pemPKCS8Key     = "PRIVATE KEY"
)

// encodeCert returns a DER certificate as PEM.
func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der})
}

// encodeKey returns an ECDSA key as an "EC PRIVATE KEY" PEM block.
func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemECPrivateKey, Bytes: der}), nil
}

// parseCert reads the first PEM block of certPEM as a certificate.
func parseCert(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != pemCertificate {
		return nil, errors.New("pki: not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: reading the certificate: %w", err)
	}
	return cert, nil
}

// parseKey reads a private key from an "EC PRIVATE KEY" or a PKCS #8
// "PRIVATE KEY" PEM block. Errors never include key material.
func parseKey(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("pki: the key is not PEM")
	}
	switch block.Type {
	case pemECPrivateKey:
		key, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("pki: the EC private key cannot be read")
		}
		return key, nil
	case pemPKCS8Key:
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("pki: the PKCS #8 private key cannot be read")
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("pki: a %T cannot sign", key)
		}
		return signer, nil
	default:
		return nil, fmt.Errorf("pki: a PEM block of type %q is not a private key", block.Type)
	}
}
