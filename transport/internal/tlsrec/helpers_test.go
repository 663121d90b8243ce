package tlsrec

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testCerts makes a self-signed CA and an ECDSA and an RSA server
// certificate for 127.0.0.1 signed by it, once per test binary.
var testCerts = sync.OnceValue(func() *certs {
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tlsrec test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		panic(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, pub, priv any, client bool) tls.Certificate {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "tlsrec test"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:     []string{"localhost"},
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		if client {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, pub, caKey)
		if err != nil {
			panic(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	cl, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &certs{
		pool:   pool,
		caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		ecdsa:  leaf(2, &ec.PublicKey, ec, false),
		rsa:    leaf(3, &rk.PublicKey, rk, false),
		client: leaf(4, &cl.PublicKey, cl, true),
	}
})

type certs struct {
	pool       *x509.CertPool
	caPEM      []byte
	ecdsa, rsa tls.Certificate
	client     tls.Certificate
}

// writeCA writes the CA certificate to a file for openssl.
func writeCA(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, testCerts().caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serverConfig is a server config with both certificates.
func serverConfig() *tls.Config {
	c := testCerts()
	return &tls.Config{Certificates: []tls.Certificate{c.ecdsa, c.rsa}}
}

// clientConfig trusts the test CA.
func clientConfig() *tls.Config {
	return &tls.Config{RootCAs: testCerts().pool, ServerName: "127.0.0.1"}
}

// echoResult is how an echo server's connection ended.
type echoResult struct {
	res       *Result
	err       error // the first error: the handshake's, Open's, or the socket's
	opened    int   // application bytes echoed
	keyUpdate int   // KeyUpdates the peer asked for
	leftover  int   // bytes the handshake read past its end
}

// echoServer serves one connection on ln: the handshake, then every
// application byte back, with the record layer over the raw socket,
// until an error (on which it sends the alert Open asks for) or
// close_notify (answered with one). Its result arrives on the channel.
func echoServer(t *testing.T, ln net.Listener, cfg *Config) <-chan echoResult {
	return echoServerOpt(t, ln, cfg, false)
}

// echoServerOpt is echoServer; with updateKeys, every batch it echoes
// goes after a KeyUpdate of its own (as if the peer had asked for one).
func echoServerOpt(t *testing.T, ln net.Listener, cfg *Config, updateKeys bool) <-chan echoResult {
	done := make(chan echoResult, 1)
	go func() {
		var er echoResult
		defer func() { done <- er }()
		raw, err := ln.Accept()
		if err != nil {
			er.err = err
			return
		}
		defer raw.Close()
		res, err := cfg.Handshake(raw, time.Now().Add(time.Minute))
		if err != nil {
			er.err = err
			return
		}
		er.res, er.leftover = res, len(res.Leftover)
		er.err = echo(raw, res, &er, updateKeys)
	}()
	return done
}

// echo is the echo loop of echoServer.
func echo(raw net.Conn, res *Result, er *echoResult, updateKeys bool) error {
	c := res.Conn
	buf := make([]byte, 0, 4*MaxRecord)
	buf = append(buf, res.Leftover...)
	var out []byte
	for {
		r, oerr := c.Open(buf)
		if r.KeyUpdate {
			er.keyUpdate++
		}
		er.opened += r.N
		if updateKeys && r.N > 0 {
			c.updateOut.Store(true)
		}
		var err error
		if out, err = c.Seal(out[:0], buf[:r.N]); err != nil {
			return err
		}
		var ae *AlertError
		switch {
		case errors.Is(oerr, ErrCloseNotify):
			out = c.SealAlert(out, AlertCloseNotify)
		case errors.As(oerr, &ae) && !ae.Remote:
			out = c.SealAlert(out, ae.Alert)
		}
		if len(out) > 0 {
			if _, err := raw.Write(out); err != nil {
				return errors.Join(oerr, err)
			}
		}
		if oerr != nil {
			return oerr
		}
		buf = buf[:copy(buf, buf[r.Used:])]
		n, err := raw.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
}

// listen listens on loopback.
func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func mustConfig(t *testing.T, c *tls.Config) *Config {
	cfg, err := NewConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
