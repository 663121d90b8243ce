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
// with wamp.error.authentication_failed. It logs in by certificate with
// --ca, --cert and --key (or $JUNCTION_CA, $JUNCTION_CERT, $JUNCTION_KEY)
// over wss:// and tls://; without --cert, or with a certificate the realm
// does not know, it is refused; with the wrong --ca the handshake fails;
// unreadable and mismatched files are errors before it connects.
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

	cfg := fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
  - address: 127.0.0.1:0
    tls:
      cert: %s
      key: %s
      client_auth: verify
      client_ca: %s
  - address: 127.0.0.1:0
    tls: {cert: %s, key: %s}
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
`, certFile, keyFile, caFile, certFile, keyFile, ticket, hex.EncodeToString(pub), auth.Fingerprint(svc.Cert.Leaf))
	path := filepath.Join(dir, "junction.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addrs, logs := serveUntilEnd(t, "--config", path)
	if len(addrs) != 3 {
		t.Fatalf("listening on %v, want 3 addresses\n%s", addrs, logs.String())
	}
	plain, secure, noCertAuth := addrs[0], addrs[1], addrs[2]

	wss := "wss://" + secure + "/ws"
	tlsAuth := func(cert *tls.Certificate) *client.Options {
		o := &client.Options{Credentials: []client.Credential{client.TLSCertificate()},
			TLSConfig: &tls.Config{RootCAs: srvPair.Pool}}
		if cert != nil {
			o.TLSConfig.Certificates = []tls.Certificate{*cert}
		}
		return o
	}
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	callee, err := client.Dial(dctx, wss, "realm1", tlsAuth(&svc.Cert))
	cancel()
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

	// The command line over TLS: --ca trusts the router's certificate
	// (self-signed, its own CA), --cert and --key log in by certificate.
	svcCert, svcKey, err := svc.WriteFiles(dir, "svc-")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := ca.Client("stranger")
	if err != nil {
		t.Fatal(err)
	}
	strangerCert, strangerKey, err := stranger.WriteFiles(dir, "stranger-")
	if err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{wss, "tls://" + secure} {
		out, errOut, code = junction(t, nil, "call", "--url", url, "--ca", certFile, "--cert", svcCert, "--key", svcKey, "test.auth.whoami")
		if code != 0 || out != "\"svc\"\n" {
			t.Errorf("call --url %s --ca --cert --key: %d %q %q", url, code, out, errOut)
		}
	}
	tlsEnv := []string{"JUNCTION_URL=" + wss, "JUNCTION_CA=" + certFile, "JUNCTION_CERT=" + svcCert, "JUNCTION_KEY=" + svcKey}
	out, errOut, code = junction(t, tlsEnv, "call", "--json", "test.auth.whoami")
	if code != 0 || out != `{"args":["svc"]}`+"\n" {
		t.Errorf("call with $JUNCTION_CA, $JUNCTION_CERT, $JUNCTION_KEY: %d %q %q", code, out, errOut)
	}
	// From the environment they stay unused on a URL without TLS.
	out, errOut, code = junction(t, append(tlsEnv, "JUNCTION_URL=ws://"+plain+"/ws"), "call", "--authid", "joe", "--ticket", "joe-secret", "test.auth.whoami")
	if code != 0 || out != "\"joe\"\n" {
		t.Errorf("call over ws:// with $JUNCTION_CERT set: %d %q %q", code, out, errOut)
	}

	// Without --cert the client offers no method the realm accepts; with
	// a certificate the CA issued to no principal, the tls method fails.
	out, errOut, code = junction(t, nil, "call", "--url", wss, "--ca", certFile, "test.auth.whoami")
	if code == 0 || out != "" || !strings.Contains(errOut, string(wamp.ErrNoAuthMethod)) {
		t.Errorf("call --ca without --cert: %d %q %q", code, out, errOut)
	}
	out, errOut, code = junction(t, nil, "call", "--url", wss, "--ca", certFile, "--cert", strangerCert, "--key", strangerKey, "test.auth.whoami")
	if code == 0 || out != "" || !strings.Contains(errOut, string(wamp.ErrAuthenticationFailed)) {
		t.Errorf("call --cert of an unknown principal: %d %q %q", code, out, errOut)
	}
	// The wrong CA (the one of the client certificates) or none (the
	// system's): the router's certificate is not trusted.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ca", caFile}, "no CA in --ca " + caFile + " issued the router's certificate"},
		{nil, "give its CA with --ca FILE"},
	} {
		args := append(append([]string{"call", "--url", wss}, tc.args...), "--cert", svcCert, "--key", svcKey, "test.auth.whoami")
		out, errOut, code = junction(t, nil, args...)
		if code == 0 || out != "" || !strings.Contains(errOut, "certificate signed by unknown authority") || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: %d %q %q", args, code, out, errOut)
		}
	}

	// A client certificate no CA in client_ca issued: presented anyway,
	// the router refuses it in the handshake.
	selfCert, selfKey, err := self.WriteFiles(dir, "self-")
	if err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{wss, "tls://" + secure} {
		out, errOut, code = junction(t, nil, "call", "--url", url, "--ca", certFile, "--cert", selfCert, "--key", selfKey, "test.auth.whoami")
		if code == 0 || out != "" || !strings.Contains(errOut, "the router refused the client certificate of --cert "+selfCert) {
			t.Errorf("call --url %s --cert of another issuer: %d %q %q", url, code, out, errOut)
		}
	}
	// A TLS listener that asks for no certificate.
	out, errOut, code = junction(t, nil, "call", "--url", "wss://"+noCertAuth+"/ws", "--ca", certFile, "--cert", svcCert, "--key", svcKey, "test.auth.whoami")
	if code == 0 || out != "" || !strings.Contains(errOut, string(wamp.ErrAuthenticationFailed)) ||
		!strings.Contains(errOut, "the router did not ask for a client certificate, so --cert was not sent") {
		t.Errorf("call --cert where no certificate is asked for: %d %q %q", code, out, errOut)
	}

	// Files that are missing, hold no certificate or do not match.
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ca", missing}, "--ca: open " + missing},
		{[]string{"--ca", svcKey}, "--ca " + svcKey + ": no PEM certificate in it"},
		{[]string{"--cert", svcCert}, "--cert needs --key"},
		{[]string{"--key", svcKey}, "--key needs --cert"},
		{[]string{"--cert", missing, "--key", svcKey}, "--cert: open " + missing},
		{[]string{"--cert", svcCert, "--key", missing}, "--key: open " + missing},
		{[]string{"--cert", svcCert, "--key", strangerKey}, "--cert " + svcCert + " and --key " + strangerKey + ": tls: private key does not match public key"},
		{[]string{"--url", "ws://" + plain + "/ws", "--ca", certFile}, "--ca is for wss://, rss:// and tls:// URLs"},
	} {
		args := append(append([]string{"call", "--url", wss}, tc.args...), "test.auth.whoami")
		out, errOut, code = junction(t, nil, args...)
		if code == 0 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: %d %q %q, want %q", args, code, out, errOut, tc.want)
		}
	}
}
