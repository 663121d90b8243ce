package router

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net"
	"testing"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/internal/testcert"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// tlsPair runs a real TLS handshake (up to version max) over a pipe, the
// client presenting clientCert if not nil, and returns both sides' states.
func tlsPair(t *testing.T, max uint16, clientCert *tls.Certificate) (server, client tls.ConnectionState) {
	t.Helper()
	srvPair := testcert.Must(t)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srv := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{srvPair.Cert}, ClientAuth: tls.RequestClientCert, MaxVersion: max})
	cfg := &tls.Config{RootCAs: srvPair.Pool, ServerName: "localhost", MaxVersion: max}
	if clientCert != nil {
		cfg.Certificates = []tls.Certificate{*clientCert}
	}
	cli := tls.Client(b, cfg)
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	return srv.ConnectionState(), cli.ConnectionState()
}

// TestCryptosignChannelBinding logs in with cryptosign over TLS 1.2 with
// tls-unique (SHA-256 of the Finished message, as Autobahn computes it) and
// over TLS 1.3 with tls-exporter; tls-unique on TLS 1.3, which has none, is
// refused with a reason that says so, and a signature bound to another
// connection fails.
func TestCryptosignChannelBinding(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	tbl := auth.NewPrincipals([]*auth.Principal{{AuthID: "dev", Role: "device", PublicKeys: []ed25519.PublicKey{pub}}})
	pol := &auth.Policy{}
	pol.Add(auth.MethodCryptosign, auth.NewCryptosign(tbl))
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Auth: pol}}})
	if err != nil {
		t.Fatal(err)
	}
	login := func(srv tls.ConnectionState, binding string, channelID []byte) wamp.Message {
		p := &pipe{t: t, c: codec.JSON, out: make(chan wamp.Message, 16)}
		p.s = r.Attach(p, TransportInfo{Kind: "websocket", Serializer: "json", TLS: true, TLSState: &srv})
		t.Cleanup(p.s.Detach)
		h := hello("realm1", "dev", "cryptosign")
		h.Details["authextra"] = wamp.Dict{"pubkey": hex.EncodeToString(pub), "channel_binding": binding}
		p.s.Receive(h)
		m := p.recv()
		ch, ok := m.(*wamp.Challenge)
		if !ok {
			return m
		}
		if ch.Extra["channel_binding"] != binding {
			t.Errorf("CHALLENGE channel_binding %v, want %s", ch.Extra["channel_binding"], binding)
		}
		sig, err := auth.SignCryptosignChallenge(priv, ch.Extra["challenge"].(string), channelID)
		if err != nil {
			t.Fatal(err)
		}
		p.s.Receive(&wamp.Authenticate{Signature: sig, Extra: wamp.Dict{}})
		return p.recv()
	}

	srv12, cli12 := tlsPair(t, tls.VersionTLS12, nil)
	if len(cli12.TLSUnique) == 0 {
		t.Fatal("TLS 1.2 has no tls-unique")
	}
	unique := sha256.Sum256(cli12.TLSUnique)
	if m := login(srv12, "tls-unique", unique[:]); m.Type() != wamp.TypeWelcome {
		t.Errorf("tls-unique on TLS 1.2: %s %+v", m.Type(), m)
	}
	other12, _ := tlsPair(t, tls.VersionTLS12, nil)
	if m, ok := login(other12, "tls-unique", unique[:]).(*wamp.Abort); !ok || m.Reason != wamp.ErrAuthenticationFailed {
		t.Errorf("a signature bound to another connection: %+v", m)
	}

	srv13, cli13 := tlsPair(t, tls.VersionTLS13, nil)
	ekm, err := cli13.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	if m := login(srv13, "tls-exporter", ekm); m.Type() != wamp.TypeWelcome {
		t.Errorf("tls-exporter on TLS 1.3: %s %+v", m.Type(), m)
	}
	a, ok := login(srv13, "tls-unique", nil).(*wamp.Abort)
	if !ok || a.Reason != wamp.ErrAuthenticationFailed || a.Details["message"] == "authentication failed" {
		t.Errorf("tls-unique on TLS 1.3: want a refusal that says why, got %+v", a)
	}
}

// TestTLSClientCertificate logs in with the tls method: the principal whose
// certificate the client presented in the handshake.
func TestTLSClientCertificate(t *testing.T) {
	cli := testcert.Must(t)
	srvState, _ := tlsPair(t, tls.VersionTLS13, &cli.Cert)
	if len(srvState.PeerCertificates) == 0 {
		t.Fatal("no client certificate in the server's state")
	}
	fp := auth.Fingerprint(srvState.PeerCertificates[0])
	tbl := auth.NewPrincipals([]*auth.Principal{{AuthID: "svc", Role: "backend", CertFingerprints: []string{fp}}})
	pol := &auth.Policy{}
	pol.Add(auth.MethodTLS, &auth.TLSCert{Principals: tbl})
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Auth: pol}}})
	if err != nil {
		t.Fatal(err)
	}
	p := &pipe{t: t, c: codec.JSON, out: make(chan wamp.Message, 16)}
	p.s = r.Attach(p, TransportInfo{Kind: "rawsocket", Serializer: "json", TLS: true, TLSState: &srvState})
	t.Cleanup(p.s.Detach)
	p.s.Receive(hello("realm1", "", "tls"))
	w := wantWelcome(t, p)
	if w.Details["authid"] != "svc" || w.Details["authmethod"] != "tls" || w.Details["authrole"] != "backend" {
		t.Errorf("WELCOME %v", w.Details)
	}

	// Without a certificate: refused.
	noCert, _ := tlsPair(t, tls.VersionTLS13, nil)
	q := &pipe{t: t, c: codec.JSON, out: make(chan wamp.Message, 16)}
	q.s = r.Attach(q, TransportInfo{Kind: "rawsocket", Serializer: "json", TLS: true, TLSState: &noCert})
	t.Cleanup(q.s.Detach)
	q.s.Receive(hello("realm1", "", "tls"))
	wantAuthAbort(t, q, wamp.ErrAuthenticationFailed)
}
