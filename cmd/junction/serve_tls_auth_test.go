package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/internal/testcert"
	"github.com/junction-wamp/junction/wamp"
)

// TestServeAuthClients: `junction serve --config` with a plain listener
// and a TLS listener that verifies client certificates (tls.client_auth:
// verify, client_ca), and a realm that admits only its principals. A Go
// client presenting a certificate the CA issued logs in by it and
// registers; one presenting none is refused; one presenting a certificate
// of another issuer fails the handshake. The command line calls in with
// --ticket and with --private-key (cryptosign), and a wrong ticket exits
// with wamp.error.authentication_failed.
func TestServeAuthClients(t *testing.T) {
	dir := t.TempDir()
	srvPair := testcert.Must(t)
	certFile, keyFile, err := srvPair.WriteFiles(dir, "server-")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	svc, err := ca.Client("svc")
	if err != nil {
		t.Fatal(err)
	}
	ticket, err := auth.NewPasswordHash("joe-secret", "pbkdf2-sha256", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}

	plain, secure := freePort(t), freePort(t)
	cfg := fmt.Sprintf(`listeners:
  - address: %s
  - address: %s
    tls:
      cert: %s
      key: %s
      client_auth: verify
      client_ca: %s
realms:
  - name: realm1
    anonymous: false
    disclose_caller: always
    auth:
      throttle: {max_delay: 0s}
      principals:
        - {authid: joe, role: backend, ticket: "%s"}
        - {authid: dev, role: backend, cryptosign: [%s]}
        - {authid: svc, role: backend, tls: ["%s"]}
      roles:
        - name: backend
          permissions:
            - {uri: "*", allow: [call, register, publish, subscribe]}
`, plain, secure, certFile, keyFile, caFile, ticket, hex.EncodeToString(pub), auth.Fingerprint(svc.Cert.Leaf))
	path := filepath.Join(dir, "junction.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var logs syncBuffer
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, []string{"serve", "--config", path}, &logs, &logs) }()
	defer func() {
		stop()
		<-exit
	}()

	wss := "wss://" + secure + "/ws"
	tlsAuth := func(cert *tls.Certificate) *client.Options {
		o := &client.Options{Credentials: []client.Credential{client.TLSCertificate()},
			TLSConfig: &tls.Config{RootCAs: srvPair.Pool}}
		if cert != nil {
			o.TLSConfig.Certificates = []tls.Certificate{*cert}
		}
		return o
	}
	var callee *client.Session
	for i := 0; i < 100; i++ {
		dctx, cancel := context.WithTimeout(context.Background(), time.Second)
		callee, err = client.Dial(dctx, wss, "realm1", tlsAuth(&svc.Cert))
		cancel()
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("dial %s with a client certificate: %v\n%s", wss, err, logs.String())
	}
	defer closeSession(callee)
	if d := callee.Details(); d["authid"] != "svc" || d["authmethod"] != "tls" {
		t.Errorf("WELCOME authid %v authmethod %v, want svc by tls", d["authid"], d["authmethod"])
	}
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := callee.Register(rctx, "test.auth.whoami", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{inv.Details["caller_authid"]}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}

	// No certificate: the TLS listener lets the client in, the tls method
	// has nothing to know it by.
	_, err = client.Dial(rctx, wss, "realm1", tlsAuth(nil))
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Reason != wamp.ErrAuthenticationFailed {
		t.Errorf("without a certificate: %v, want an ABORT %s", err, wamp.ErrAuthenticationFailed)
	}
	// A certificate the CA did not issue, presented anyway: the handshake
	// fails.
	self := testcert.Must(t)
	o := tlsAuth(nil)
	o.TLSConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &self.Cert, nil }
	if s, err := client.Dial(rctx, wss, "realm1", o); err == nil {
		closeSession(s)
		t.Error("a certificate no trusted CA issued was accepted")
	} else if errors.As(err, &ce) {
		t.Errorf("a certificate no trusted CA issued: %v, want a TLS failure", err)
	}

	env := []string{"JUNCTION_URL=ws://" + plain + "/ws"}
	out, errOut, code := junction(t, env, "call", "--authid", "joe", "--ticket", "joe-secret", "test.auth.whoami")
	if code != 0 || out != "\"joe\"\n" {
		t.Errorf("call --ticket: %d %q %q", code, out, errOut)
	}
	out, errOut, code = junction(t, append(env, "JUNCTION_AUTHID=joe", "JUNCTION_TICKET=joe-secret"), "call", "test.auth.whoami")
	if code != 0 || out != "\"joe\"\n" {
		t.Errorf("call with $JUNCTION_TICKET: %d %q %q", code, out, errOut)
	}
	out, errOut, code = junction(t, env, "call", "--private-key", hex.EncodeToString(priv.Seed()), "test.auth.whoami")
	if code != 0 || out != "\"dev\"\n" {
		t.Errorf("call --private-key: %d %q %q", code, out, errOut)
	}
	out, errOut, code = junction(t, env, "call", "--authid", "joe", "--ticket", "wrong", "test.auth.whoami")
	if code == 0 || out != "" || !strings.Contains(errOut, string(wamp.ErrAuthenticationFailed)) {
		t.Errorf("call with a wrong ticket: %d %q %q", code, out, errOut)
	}
	_, priv2, _ := ed25519.GenerateKey(nil)
	out, errOut, code = junction(t, env, "call", "--private-key", hex.EncodeToString(priv2.Seed()), "test.auth.whoami")
	if code == 0 || out != "" || !strings.Contains(errOut, string(wamp.ErrAuthenticationFailed)) {
		t.Errorf("call with an unknown key: %d %q %q", code, out, errOut)
	}
}
