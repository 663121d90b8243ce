package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/internal/testcert"
	"github.com/junction-wamp/junction/wamp"
)

// logBuffer collects a node's log lines, for tests that wait on one.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitLog waits until a line of b holds s.
func (b *logBuffer) waitLog(t *testing.T, s string) {
	t.Helper()
	waitFor(t, "a log line with "+s, func() bool { return strings.Contains(b.String(), s) })
}

// tlsFiles issues a node certificate from ca into dir and returns the
// node's TLS settings, with caFile as the CA it trusts.
func tlsFiles(t testing.TB, dir, name string, ca *testcert.Pair, caFile string) *TLS {
	t.Helper()
	p, err := ca.Node(name)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := p.WriteFiles(dir, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	return &TLS{CertFile: cert, KeyFile: key, CAFile: caFile}
}

// newCA makes a CA and writes its certificate to dir/name.pem.
func newCA(t testing.TB, dir, name string) (*testcert.Pair, string) {
	t.Helper()
	ca, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, name+".pem")
	if err := os.WriteFile(f, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return ca, f
}

// acrossNodes checks that a publication and a call made on from reach a
// subscriber and a callee on to.
func acrossNodes(t *testing.T, from, to *testNode, tag string) {
	t.Helper()
	topic, proc := "com.example.sec."+tag, "com.example.sec.call."+tag
	on, _ := events(t, dial(t, to, wamp.FormatJSON), topic, nil)
	register(t, dial(t, to, wamp.FormatMsgPack), proc, func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{"from " + to.node.Name(), inv.Args[0]}}, nil
	}, nil)
	waitInterest(t, from, topic, 1)
	waitCallee(t, from, proc, true)
	s := dial(t, from, wamp.FormatJSON)
	if _, err := s.Publish(ctxT(t), topic, wamp.List{tag}, nil, wamp.Dict{"acknowledge": true}); err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, on); ev.Args[0] != tag {
		t.Fatalf("event %v", ev.Args)
	}
	res, err := s.Call(ctxT(t), proc, wamp.List{tag}, nil, nil)
	if err != nil || res.Args[0] != "from "+to.node.Name() || res.Args[1] != tag {
		t.Fatalf("call across: %v, %v", res, err)
	}
}

// TestRouteTLS: three nodes whose routes use mutual TLS with certificates
// of one CA carry publications and calls; a fourth whose certificate
// another CA issued never joins: its route fails the TLS handshake (seen
// in its log), node 1 has no route to it, and nobody counts it a peer.
func TestRouteTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caFile := newCA(t, dir, "ca")
	var nodes []*testNode
	var routes []string
	for _, name := range []string{"tls1", "tls2", "tls3"} {
		tn := startNode(t, Config{NodeName: name, Listen: "127.0.0.1:0", Join: routes, TLS: tlsFiles(t, dir, name, ca, caFile)})
		routes = append(routes, tn.node.RouteAddr())
		nodes = append(nodes, tn)
	}
	waitFor(t, "the TLS nodes to know each other", func() bool {
		for _, tn := range nodes {
			if len(tn.node.Peers()) != 2 {
				return false
			}
		}
		return true
	})
	acrossNodes(t, nodes[0], nodes[2], "tls")
	acrossNodes(t, nodes[2], nodes[1], "tls-back")

	// A stranger: a certificate for the right names, from another CA
	// (trusting that CA, so only the cluster's check can refuse it).
	other, otherFile := newCA(t, dir, "other")
	var log logBuffer
	stranger := startNode(t, Config{NodeName: "stranger", Listen: "127.0.0.1:0", Join: routes[:1],
		TLS: tlsFiles(t, dir, "stranger", other, otherFile), Logger: log.logger()})
	log.waitLog(t, "TLS route handshake error")
	routedTo(t, nodes[0], stranger, false)
	if len(stranger.node.Peers()) != 0 || len(nodes[0].node.Peers()) != 2 {
		t.Fatalf("the stranger's peers: %v; node 1's: %v", stranger.node.Peers(), nodes[0].node.Peers())
	}
}

// TestRoutePassword: with route_user and route_password, nodes that know
// them form a cluster; one with a wrong password is refused
// (authorization violation in its log) and never becomes a peer.
func TestRoutePassword(t *testing.T) {
	a := startNode(t, Config{NodeName: "pw1", Listen: "127.0.0.1:0", RouteUser: "route", RoutePassword: "s3cret"})
	b := startNode(t, Config{NodeName: "pw2", Listen: "127.0.0.1:0", Join: []string{a.node.RouteAddr()}, RouteUser: "route", RoutePassword: "s3cret"})
	waitFor(t, "the nodes to meet", func() bool { return len(a.node.Peers()) == 1 && len(b.node.Peers()) == 1 })
	acrossNodes(t, b, a, "pw")

	var log logBuffer
	c := startNode(t, Config{NodeName: "pw3", Listen: "127.0.0.1:0", Join: []string{a.node.RouteAddr()},
		RouteUser: "route", RoutePassword: "guess", Logger: log.logger()})
	log.waitLog(t, "Authorization Violation")
	// Node 1 refused the route (the intruder's own side may still hold
	// its half a moment after the refusal), and no node met the other.
	routedTo(t, a, c, false)
	if len(c.node.Peers()) != 0 || len(a.node.Peers()) != 1 {
		t.Fatalf("the intruder's peers: %v; node 1's: %v", c.node.Peers(), a.node.Peers())
	}
}

// routedTo checks whether from's embedded server has a route to to's.
func routedTo(t *testing.T, from, to *testNode, want bool) {
	t.Helper()
	rz, err := from.node.ns.Routez(nil)
	if err != nil {
		t.Fatal(err)
	}
	got := false
	for _, r := range rz.Routes {
		got = got || r.RemoteName == to.node.ns.Name()
	}
	if got != want {
		t.Fatalf("%s has a route to %s: %v, want %v", from.node.Name(), to.node.Name(), got, want)
	}
}

// operator is a NATS operator with one account and a user of it, as a
// NATS deployment in operator mode has them.
type operator struct {
	claims      *jwt.OperatorClaims
	account     string // public key
	accountJWT  string
	credentials []byte // the user's .creds file
}

func newOperator(t *testing.T) *operator {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, err := okp.PublicKey()
	must(err)
	ojwt, err := jwt.NewOperatorClaims(opub).Encode(okp)
	must(err)
	oc, err := jwt.DecodeOperatorClaims(ojwt)
	must(err)
	akp, err := nkeys.CreateAccount()
	must(err)
	apub, err := akp.PublicKey()
	must(err)
	ajwt, err := jwt.NewAccountClaims(apub).Encode(okp)
	must(err)
	ukp, err := nkeys.CreateUser()
	must(err)
	upub, err := ukp.PublicKey()
	must(err)
	ujwt, err := jwt.NewUserClaims(upub).Encode(akp)
	must(err)
	seed, err := ukp.Seed()
	must(err)
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	must(err)
	return &operator{claims: oc, account: apub, accountJWT: ajwt, credentials: creds}
}

// TestExistingNATSCredentialsAndTLS: a NATS server in operator mode that
// asks for TLS with a client certificate and for a user's credentials
// (a .creds file): two nodes with both carry a publication and a call; a
// node with the credentials of another operator's user, or without a
// client certificate, is refused.
func TestExistingNATSCredentialsAndTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caFile := newCA(t, dir, "ca")
	srvCert, err := ca.Node("nats")
	if err != nil {
		t.Fatal(err)
	}
	op := newOperator(t)
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true,
		TrustedOperators: []*jwt.OperatorClaims{op.claims}, AccountResolver: &server.MemAccResolver{},
		TLS: true, TLSVerify: true, TLSTimeout: 5,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{srvCert.Cert},
			ClientCAs: ca.Pool, ClientAuth: tls.RequireAndVerifyClientCert}}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.AccountResolver().Store(op.account, op.accountJWT); err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	creds := filepath.Join(dir, "junction.creds")
	if err := os.WriteFile(creds, op.credentials, 0o600); err != nil {
		t.Fatal(err)
	}
	url := "tls://" + ns.Addr().String()
	a := startNode(t, Config{NodeName: "a", NATS: []string{url}, Credentials: creds, TLS: tlsFiles(t, dir, "a", ca, caFile)})
	b := startNode(t, Config{NodeName: "b", NATS: []string{url}, Credentials: creds, TLS: tlsFiles(t, dir, "b", ca, caFile)})
	acrossNodes(t, a, b, "creds")

	strangerCreds := filepath.Join(dir, "stranger.creds")
	if err := os.WriteFile(strangerCreds, newOperator(t).credentials, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := Start(Config{NodeName: "c", NATS: []string{url}, Credentials: strangerCreds, TLS: tlsFiles(t, dir, "c", ca, caFile)}); err == nil {
		n.Close()
		t.Fatal("a node with another operator's credentials connected")
	} else if !strings.Contains(err.Error(), "Authorization Violation") {
		t.Fatalf("another operator's credentials: %v, want an authorization violation", err)
	}
	if n, err := Start(Config{NodeName: "d", NATS: []string{url}, Credentials: creds, TLS: &TLS{CAFile: caFile}}); err == nil {
		n.Close()
		t.Fatal("a node without a client certificate connected")
	}
}

// TestCheckSecurity: the TLS and credentials settings are checked
// against the mode, and their files read, before a node starts.
func TestCheckSecurity(t *testing.T) {
	dir := t.TempDir()
	ca, caFile := newCA(t, dir, "ca")
	good := tlsFiles(t, dir, "n", ca, caFile)
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  Config
		want []string // "key: error substring"
	}{
		{"route TLS complete", Config{Listen: ":0", TLS: good}, nil},
		{"route TLS without a CA", Config{Listen: ":0", TLS: &TLS{CertFile: good.CertFile, KeyFile: good.KeyFile}},
			[]string{"tls.ca: route TLS needs the CA"}},
		{"route TLS without a key", Config{Listen: ":0", TLS: &TLS{CertFile: good.CertFile, CAFile: caFile}},
			[]string{"tls.key: route TLS needs this node's private key"}},
		{"client TLS, CA only", Config{NATS: []string{"tls://n:4222"}, TLS: &TLS{CAFile: caFile}}, nil},
		{"client certificate without its key", Config{NATS: []string{"tls://n:4222"}, TLS: &TLS{CertFile: good.CertFile}},
			[]string{"tls.key: a client certificate needs its private key"}},
		{"broken files", Config{NATS: []string{"tls://n:4222"}, TLS: &TLS{CAFile: junk, CertFile: good.CertFile, KeyFile: junk}, Credentials: junk},
			[]string{"tls.ca: " + junk + " holds no PEM certificate", "tls.cert: loading key pair", "credentials: " + junk + ": no user JWT"}},
		{"missing files", Config{NATS: []string{"tls://n:4222"}, TLS: &TLS{CAFile: filepath.Join(dir, "nope.pem")}},
			[]string{"tls.ca: open " + filepath.Join(dir, "nope.pem") + ": no such file or directory"}},
		{"credentials with an embedded server", Config{Listen: ":0", Credentials: junk},
			[]string{"credentials: a credentials file is for an existing NATS"}},
		{"route password alone", Config{Listen: ":0", RoutePassword: "x"}, []string{"route_password: route_password needs route_user"}},
		{"route user with an existing NATS", Config{NATS: []string{"nats://n:4222"}, RouteUser: "u", RoutePassword: "p"},
			[]string{"route_user: route_user and route_password authorize the embedded server's routes"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps := CheckSecurity(&c.cfg)
			var got []string
			for _, p := range ps {
				got = append(got, p.Key+": "+p.Err.Error())
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], c.want[i]) {
					t.Errorf("problem %d: %q, want %q...", i, got[i], c.want[i])
				}
			}
		})
	}
}

// TestRouteTLSReload: a node's route certificate renewed in its files is
// taken at Reload, without a restart: the route it accepts next, and the
// route it dials next, present the new one (the probe here plays a peer
// that hangs up after the handshake, so that the node dials again); the
// cluster keeps its routes and gains a node that joins after; files that
// do not load leave the certificate it had.
func TestRouteTLSReload(t *testing.T) {
	dir := t.TempDir()
	ca, caFile := newCA(t, dir, "ca")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	probeCert := func(name string) tls.Certificate {
		p, err := ca.Node(name)
		if err != nil {
			t.Fatal(err)
		}
		return p.Cert
	}

	// A "peer" node 1 dials: each handshake's client certificate is sent
	// on dialled, then the connection is closed.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{probeCert("probe-peer")},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	dialled := make(chan *x509.Certificate, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			tc.SetDeadline(time.Now().Add(5 * time.Second))
			if tc.Handshake() == nil {
				select {
				case dialled <- tc.ConnectionState().PeerCertificates[0]:
				default:
				}
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })

	files := tlsFiles(t, dir, "reload1", ca, caFile)
	a := startNode(t, Config{NodeName: "reload1", Listen: "127.0.0.1:0", Join: []string{ln.Addr().String()}, TLS: files})
	b := startNode(t, Config{NodeName: "reload2", Listen: "127.0.0.1:0", Join: []string{a.node.RouteAddr()}, TLS: tlsFiles(t, dir, "reload2", ca, caFile)})
	waitFor(t, "the nodes to meet", func() bool { return len(a.node.Peers()) == 1 && len(b.node.Peers()) == 1 })

	// accepted is the certificate node 1 presents to a route it accepts.
	client := probeCert("probe-client")
	accepted := func() *x509.Certificate {
		t.Helper()
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", a.node.RouteAddr(),
			&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{client}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	before := accepted()
	var first *x509.Certificate
	select {
	case first = <-dialled:
	case <-time.After(30 * time.Second):
		t.Fatal("node 1 did not dial the probe peer")
	}
	if !first.Equal(before) {
		t.Fatalf("node 1 presents %v dialling and %v accepting", first.SerialNumber, before.SerialNumber)
	}

	// Renewed in place: a certificate of the same name, another serial.
	renewed, err := ca.Node("reload1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := renewed.WriteFiles(dir, "reload1-"); err != nil {
		t.Fatal(err)
	}
	rt := a.node.RouteTLS()
	leaf, err := rt.Reload()
	if err != nil || !leaf.Equal(renewed.Cert.Leaf) || !rt.NotAfter().Equal(renewed.Cert.Leaf.NotAfter) {
		t.Fatalf("Reload: %v, %v", leaf, err)
	}
	if got := accepted(); !got.Equal(renewed.Cert.Leaf) {
		t.Fatalf("after the reload node 1 presents %v accepting a route, want the renewed %v", got.SerialNumber, renewed.Cert.Leaf.SerialNumber)
	}
	for renewedDialled := false; !renewedDialled; {
		select {
		case got := <-dialled:
			renewedDialled = got.Equal(renewed.Cert.Leaf)
			if !renewedDialled && !got.Equal(before) {
				t.Fatalf("node 1 dials with %v", got.SerialNumber)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("node 1 did not dial the probe peer again with the renewed certificate")
		}
	}
	c := startNode(t, Config{NodeName: "reload3", Listen: "127.0.0.1:0", Join: []string{a.node.RouteAddr()}, TLS: tlsFiles(t, dir, "reload3", ca, caFile)})
	waitFor(t, "the third node to join", func() bool { return len(a.node.Peers()) == 2 && len(c.node.Peers()) == 2 })
	acrossNodes(t, c, a, "renewed")

	// Files that do not load: the renewed certificate stays.
	if err := os.WriteFile(files.KeyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Reload(); err == nil {
		t.Fatal("Reload of a damaged key succeeded")
	}
	if done, failed := rt.Reloads(); done != 1 || failed != 1 {
		t.Fatalf("Reloads: %d done, %d failed", done, failed)
	}
	if got := accepted(); !got.Equal(renewed.Cert.Leaf) {
		t.Fatalf("after a failed reload node 1 presents %v", got.SerialNumber)
	}
}

// TestRouteTLSMustStaple: a route certificate with OCSP must-staple keeps
// the static configuration that nats-server staples itself (its OCSP
// monitor sets its own certificate callbacks, which ours would bypass),
// and a reload of it is refused, saying to restart; any other certificate
// gets the reloading callbacks.
func TestRouteTLSMustStaple(t *testing.T) {
	dir := t.TempDir()
	ca, caFile := newCA(t, dir, "ca")
	statusRequest, err := asn1.Marshal([]int{5})
	if err != nil {
		t.Fatal(err)
	}
	staple, err := ca.NodeWith("staple", pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}, Value: statusRequest})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := staple.WriteFiles(dir, "staple-")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := newRouteTLS(&TLS{CertFile: cert, KeyFile: key, CAFile: caFile}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if c := rt.config(); c.GetConfigForClient != nil || c.GetClientCertificate != nil || len(c.Certificates) != 1 {
		t.Fatal("a must-staple certificate got the reloading callbacks")
	}
	if _, err := rt.Reload(); !errors.Is(err, errMustStaple) {
		t.Fatalf("Reload of a must-staple certificate: %v", err)
	}
	if done, failed := rt.Reloads(); done != 0 || failed != 1 {
		t.Fatalf("Reloads: %d done, %d failed", done, failed)
	}
	plain, err := newRouteTLS(tlsFiles(t, dir, "plain", ca, caFile), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if c := plain.config(); c.GetConfigForClient == nil || c.GetClientCertificate == nil {
		t.Fatal("a certificate without must-staple is not reloadable")
	}
}
