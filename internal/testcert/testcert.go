// Package testcert makes throwaway TLS certificates for tests, valid for a
// day: a self-signed one for "localhost" and 127.0.0.1 with a pool that
// trusts it, and a certificate authority that issues client certificates
// and cluster nodes' certificates.
// It is for tests only.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// Pair is a certificate, its key and a pool that trusts it.
type Pair struct {
	Cert    tls.Certificate // for a tls.Config's Certificates
	Pool    *x509.CertPool  // for a client's RootCAs
	CertPEM []byte
	KeyPEM  []byte
}

// New makes a pair. It returns an error only if the crypto library fails.
func New() (*Pair, error) {
	return issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, nil)
}

// NewCA makes a certificate authority: its Pool trusts the certificates
// that its Client issues (a server's ClientCAs), its CertPEM is what a
// listener's client_ca file holds.
func NewCA() (*Pair, error) {
	return issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "junction test CA"},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil)
}

// Client makes a TLS client certificate named cn, issued by ca (a pair from
// NewCA). Its Pool is ca's.
func (ca *Pair) Client(cn string) (*Pair, error) {
	return issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca)
}

// Node makes a certificate named cn for localhost and 127.0.0.1, issued by
// ca (a pair from NewCA), good both as a server's and as a client's: what
// a cluster node presents on the routes it accepts and on those it dials.
func (ca *Pair) Node(cn string) (*Pair, error) { return ca.NodeWith(cn) }

// NodeWith is Node with extensions of its own (a TLS feature, say).
func (ca *Pair) NodeWith(cn string, ext ...pkix.Extension) (*Pair, error) {
	return issue(&x509.Certificate{
		Subject:         pkix.Name{CommonName: cn},
		DNSNames:        []string{"localhost"},
		IPAddresses:     []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		ExtraExtensions: ext,
	}, ca)
}

var serial atomic.Int64

// issue makes a certificate from tmpl, valid for a day, with a new key:
// self-signed when issuer is nil.
func issue(tmpl *x509.Certificate, issuer *Pair) (*Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = big.NewInt(serial.Add(1))
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	parent, signer := tmpl, any(key)
	if issuer != nil {
		parent, signer = issuer.Cert.Leaf, issuer.Cert.PrivateKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if issuer != nil {
		pool = issuer.Pool
	} else {
		pool.AddCert(cert)
	}
	return &Pair{
		Cert:    tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
		Pool:    pool,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// Fataler is the part of testing.TB that Must uses.
type Fataler interface {
	Helper()
	Fatal(args ...any)
}

// Must is New for a test: it fails t on an error.
func Must(t Fataler) *Pair {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// WriteFiles writes the pair as PEM files prefix+"cert.pem" and
// prefix+"key.pem" in dir and returns their paths.
func (p *Pair) WriteFiles(dir, prefix string) (certFile, keyFile string, err error) {
	certFile = filepath.Join(dir, prefix+"cert.pem")
	keyFile = filepath.Join(dir, prefix+"key.pem")
	if err := os.WriteFile(certFile, p.CertPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, p.KeyPEM, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}
