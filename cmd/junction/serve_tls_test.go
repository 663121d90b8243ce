package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/config"
	"github.com/junction-wamp/junction/internal/testcert"
)

// waitLogCount waits until logs holds s n times.
func waitLogCount(t *testing.T, logs *syncBuffer, s string, n int) {
	t.Helper()
	timeout := time.After(time.Minute)
	for strings.Count(logs.String(), s) < n {
		select {
		case <-logs.changed:
		case <-timeout:
			t.Fatalf("%q not %d times in the log:\n%s", s, n, logs.String())
		}
	}
}

// TestServeTLSReload: SIGHUP makes `junction serve` read its TLS
// listeners' files again, on both engines: new handshakes get the new
// certificate and the new client CAs, sessions connected before go on
// over the keys of their handshake, and files that do not load (a key of
// another certificate) leave the listener with what it had, said in the
// log. /metrics has each listener's certificate expiry and its reloads.
func TestServeTLSReload(t *testing.T) {
	dir := t.TempDir()
	oldPair, newPair := testcert.Must(t), testcert.Must(t)
	oldCA, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	newCA, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	oldClient, err := oldCA.Client("svc")
	if err != nil {
		t.Fatal(err)
	}
	newClient, err := newCA.Client("svc")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, caFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	write := func(name string, data []byte) {
		t.Helper()
		// As certbot does: the new file is renamed over the old one.
		tmp := name + ".new"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, name); err != nil {
			t.Fatal(err)
		}
	}
	write(certFile, oldPair.CertPEM)
	write(keyFile, oldPair.KeyPEM)
	write(caFile, oldCA.CertPEM)

	cfg := fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
  - address: 127.0.0.1:0
    engine: epoll
    tls: {cert: %[1]s, key: %[2]s, client_auth: verify, client_ca: %[3]s}
  - address: 127.0.0.1:0
    engine: goroutine
    tls: {cert: %[1]s, key: %[2]s, client_auth: verify, client_ca: %[3]s}
realms:
  - name: realm1
    anonymous: false
    auth:
      principals:
        - {authid: old, role: backend, tls: ["%[4]s"]}
        - {authid: new, role: backend, tls: ["%[5]s"]}
      roles:
        - name: backend
          permissions:
            - {uri: "*", allow: [call, register, publish, subscribe]}
`, certFile, keyFile, caFile, auth.Fingerprint(oldClient.Cert.Leaf), auth.Fingerprint(newClient.Cert.Leaf))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addrs, logs, exit := serveInProcess(t, ctx, "--config", writeConfig(t, cfg))
	defer func() {
		stop()
		<-exit
	}()
	if len(addrs) != 3 {
		t.Fatalf("listening on %v, want 3 addresses", addrs)
	}
	plain, secure := addrs[0], addrs[1:]
	// The test certificates are good for a day: each listener says so.
	waitLogCount(t, logs, "the TLS certificate expires soon", 2)

	// served returns the certificate a TLS listener serves now.
	served := func(addr string) []byte {
		t.Helper()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("TLS handshake with %s: %v", addr, err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Raw
	}
	dial := func(addr string, srv, cli *testcert.Pair) (*client.Session, error) {
		o := &client.Options{Credentials: []client.Credential{client.TLSCertificate()},
			TLSConfig: &tls.Config{RootCAs: srv.Pool, Certificates: []tls.Certificate{cli.Cert}}}
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return client.Dial(dctx, "wss://"+addr+"/ws", "realm1", o)
	}
	reloads := 0
	hup := func() {
		t.Helper()
		reloads++
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	var before []*client.Session
	for _, addr := range secure {
		if got := served(addr); !bytes.Equal(got, oldPair.Cert.Leaf.Raw) {
			t.Fatalf("%s serves another certificate than its file's", addr)
		}
		s, err := dial(addr, oldPair, oldClient)
		if err != nil {
			t.Fatalf("%s before the reload: %v", addr, err)
		}
		defer closeSession(s)
		before = append(before, s)
		if s, err := dial(addr, oldPair, newClient); err == nil {
			s.Close(ctx)
			t.Fatalf("%s took a client certificate of a CA it does not know yet", addr)
		}
	}

	write(certFile, newPair.CertPEM)
	write(keyFile, newPair.KeyPEM)
	write(caFile, newCA.CertPEM)
	hup()
	waitLogCount(t, logs, "TLS files reloaded", 2*reloads)
	for i, addr := range secure {
		if got := served(addr); !bytes.Equal(got, newPair.Cert.Leaf.Raw) {
			t.Errorf("%s serves the old certificate after the reload", addr)
		}
		s, err := dial(addr, newPair, newClient)
		if err != nil {
			t.Fatalf("%s after the reload, with a client certificate of the new CA: %v", addr, err)
		}
		if s.Details()["authid"] != "new" {
			t.Errorf("%s: logged in as %v, want new", addr, s.Details()["authid"])
		}
		s.Close(ctx)
		if s, err := dial(addr, newPair, oldClient); err == nil {
			s.Close(ctx)
			t.Errorf("%s took a client certificate of the CA it no longer has", addr)
		}
		// Connected before: still a session, over its own keys.
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = before[i].Call(cctx, "wamp.session.count", nil, nil, nil)
		cancel()
		if err != nil {
			t.Errorf("%s: a session connected before the reload: %v", addr, err)
		}
	}

	// A key that is not the certificate's: refused, the listeners keep
	// what they had.
	write(keyFile, oldPair.KeyPEM)
	hup()
	waitLogCount(t, logs, "TLS files not reloaded", 2)
	for _, addr := range secure {
		if got := served(addr); !bytes.Equal(got, newPair.Cert.Leaf.Raw) {
			t.Errorf("%s does not serve the certificate it had after a failed reload", addr)
		}
	}

	_, body := httpDo(t, "GET", "http://"+plain+"/metrics", "")
	for _, addr := range secure {
		for _, want := range []string{
			fmt.Sprintf(`junction_tls_certificate_not_after_seconds{listener="%s"} %s`, addr, strconv.FormatFloat(float64(newPair.Cert.Leaf.NotAfter.Unix()), 'e', -1, 64)),
			fmt.Sprintf(`junction_tls_reloads_total{listener="%s",outcome="done"} 1`, addr),
			fmt.Sprintf(`junction_tls_reloads_total{listener="%s",outcome="failed"} 1`, addr),
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics has no %s:\n%s", want, grepLines(body, "junction_tls_"))
			}
		}
	}
}

// TestServeCheck: serve --check says whether the router would start with
// a config, files named in it included, and opens nothing: a config
// whose listener's address is taken checks OK; a client CA file without a
// certificate (which the config's own checks do not read) fails it.
func TestServeCheck(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, err := testcert.Must(t).WriteFiles(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(clientAuth string) string {
		return writeConfig(t, fmt.Sprintf(`listeners:
  - address: %s
  - address: 127.0.0.1:0
    tls: {cert: %s, key: %s%s}
realms:
  - name: realm1
  - name: realm2
`, taken.Addr(), certFile, keyFile, clientAuth))
	}
	good := config("")
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"serve", "--config", good, "--check"}, &out, &errOut); code != 0 {
		t.Fatalf("serve --check of a good config: status %d\n%s%s", code, out.String(), errOut.String())
	}
	if want := good + ": OK (2 listeners, 2 realms)\n"; out.String() != want {
		t.Errorf("serve --check printed %q, want %q", out.String(), want)
	}

	out.Reset()
	errOut.Reset()
	bad := config(", client_auth: verify, client_ca: " + caFile)
	if code := run(t.Context(), []string{"serve", "--config", bad, "--check"}, &out, &errOut); code != 1 {
		t.Errorf("serve --check of a client CA file without a certificate: status %d, want 1\n%s", code, out.String())
	}
	if !strings.Contains(errOut.String(), "holds no PEM certificate") || out.Len() != 0 {
		t.Errorf("serve --check printed %q and %q, want the client_ca error", out.String(), errOut.String())
	}
}

// TestTLSExpiryWarning: a listener whose certificate expires within two
// weeks says so at warning level, one whose certificate has expired at
// error level, and one with time left says nothing.
func TestTLSExpiryWarning(t *testing.T) {
	dir := t.TempDir()
	pair := testcert.Must(t)
	certFile, keyFile, err := pair.WriteFiles(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	files, err := newListenerTLS(config.Listener{Address: "127.0.0.1:0", TLS: &config.TLS{CertFile: certFile, KeyFile: keyFile}})
	if err != nil {
		t.Fatal(err)
	}
	notAfter := pair.Cert.Leaf.NotAfter
	for _, tc := range []struct {
		now  time.Time
		want string
	}{
		{notAfter.Add(-30 * 24 * time.Hour), ""},
		{notAfter.Add(-3 * 24 * time.Hour), `level=WARN msg="the TLS certificate expires soon: renew it, then send SIGHUP"`},
		{notAfter.Add(time.Second), `level=ERROR msg="the TLS certificate has expired`},
	} {
		var out bytes.Buffer
		warnExpiry(slog.New(slog.NewTextHandler(&out, nil)), files, tc.now)
		if tc.want == "" && out.Len() != 0 || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v before expiry: logged %q, want %q", notAfter.Sub(tc.now), out.String(), tc.want)
		}
	}
}

// TestServeClusterTLSReload: SIGHUP reads a cluster node's route
// certificate and key again: the route port presents the renewed
// certificate to the next route that handshakes, and the log says so.
func TestServeClusterTLSReload(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	first, err := ca.Node("n1")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := first.WriteFiles(dir, "n1-")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
cluster:
  node: n1
  listen: 127.0.0.1:0
  tls: {cert: %s, key: %s, ca: %s}
`, certFile, keyFile, caFile)
	_, logs := serveUntilEnd(t, "--config", writeConfig(t, cfg))
	m := regexp.MustCompile(`cluster (127\.0\.0\.1:[0-9]+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no route address in the log:\n%s", logs.String())
	}
	peer, err := ca.Node("probe")
	if err != nil {
		t.Fatal(err)
	}
	served := func() *x509.Certificate {
		t.Helper()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", m[1],
			&tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{peer.Cert}})
		if err != nil {
			t.Fatalf("TLS handshake with the route port %s: %v", m[1], err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	if got := served(); !got.Equal(first.Cert.Leaf) {
		t.Fatalf("the route port presents %v, want %v", got.SerialNumber, first.Cert.Leaf.SerialNumber)
	}
	renewed, err := ca.Node("n1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := renewed.WriteFiles(dir, "n1-"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLogCount(t, logs, `msg="TLS files reloaded" listener="cluster `+m[1]+`"`, 1)
	if got := served(); !got.Equal(renewed.Cert.Leaf) {
		t.Fatalf("after SIGHUP the route port presents %v, want the renewed %v", got.SerialNumber, renewed.Cert.Leaf.SerialNumber)
	}
}
