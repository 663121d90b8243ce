package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"net"
	"testing"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/config"
	"github.com/junction-wamp/junction/internal/testcert"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/wamp"
)

// authRouter serves examples/config/auth.yaml's realm over TLS, with
// client certificates issued by a test CA verified (tls.client_auth:
// verify), and with what the example lacks for these tests: device-1 gets a
// second public key, whose private key the test holds; scram-argon has a
// WAMP-SCRAM credential with the specification's Argon2id (the example's
// scram-user has Autobahn's argon2id-13, which a wamp-scram client does not
// take, and PBKDF2); tls-service is known by its client certificate; the
// failure throttle is off.
type authRouter struct {
	url       []string // wss:// and rss://
	server    *testcert.Pair
	device    ed25519.PrivateKey
	clientCrt tls.Certificate // issued by the CA: tls-service
	stranger  tls.Certificate // issued by the CA, known to no principal
}

func startAuthRouter(t *testing.T) *authRouter {
	t.Helper()
	cfg, err := config.Load("../examples/config/auth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := ca.Client("tls-service")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := ca.Client("stranger")
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	argon, err := auth.NewSCRAMCredential("argon-secret", auth.KDFArgon2id13, 1, 1024)
	if err != nil {
		t.Fatal(err)
	}

	realm := &cfg.Realms[0]
	a := realm.Auth
	a.Throttle.MaxDelay = 0
	found := false
	for i := range a.Principals {
		if p := &a.Principals[i]; p.AuthID == "device-1" {
			p.Cryptosign = append(p.Cryptosign, pub)
			found = true
		}
	}
	if !found {
		t.Fatal("examples/config/auth.yaml no longer has device-1")
	}
	a.Principals = append(a.Principals,
		config.Principal{AuthID: "scram-argon", Role: "backend", SCRAM: []*auth.SCRAMCredential{argon}},
		config.Principal{AuthID: "tls-service", Role: "backend", TLS: []string{auth.Fingerprint(svc.Cert.Leaf)}})
	pol, roles, err := realm.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: wamp.URI(realm.Name),
		Anonymous: realm.Anonymous, Auth: pol, Roles: roles}}})
	if err != nil {
		t.Fatal(err)
	}

	server := testcert.Must(t)
	srv := &transport.Server{Router: r, TLSConfig: &tls.Config{Certificates: []tls.Certificate{server.Cert},
		ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.Pool}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { srv.Serve(ln); close(served) }()
	t.Cleanup(func() {
		ctx := ctxT(t)
		r.Shutdown(ctx)
		srv.Shutdown(ctx)
		<-served
	})
	addr := ln.Addr().String()
	return &authRouter{url: []string{"wss://" + addr + "/ws", "rss://" + addr}, server: server,
		device: priv, clientCrt: svc.Cert, stranger: stranger.Cert}
}

// dial joins realm1 with o over url, trusting the test server.
func (ar *authRouter) dial(t *testing.T, url string, o client.Options, cert *tls.Certificate) (*client.Session, error) {
	o.TLSConfig = &tls.Config{RootCAs: ar.server.Pool}
	if cert != nil {
		o.TLSConfig.Certificates = []tls.Certificate{*cert}
	}
	s, err := client.Dial(ctxT(t), url, "realm1", &o)
	if err == nil {
		t.Cleanup(func() { s.Close(context.Background()) })
	}
	return s, err
}

// TestAuthLive: the client logs in to the router over real TLS sockets
// with every method the router offers, as the principals of the example
// config, and gets the identity and the role's permissions.
func TestAuthLive(t *testing.T) {
	ar := startAuthRouter(t)
	cases := []struct {
		name           string
		opts           client.Options
		cert           *tls.Certificate
		authid, method string
		role           string
	}{
		{"ticket", client.Options{AuthID: "ticket-user", Credentials: []client.Credential{client.Ticket("ticket-secret")}},
			nil, "ticket-user", "ticket", "backend"},
		{"wampcra", client.Options{AuthID: "cra-user", Credentials: []client.Credential{client.WAMPCRA("cra-secret")}},
			nil, "cra-user", "wampcra", "backend"},
		{"wampcra-salted", client.Options{AuthID: "cra-salted", Credentials: []client.Credential{client.WAMPCRA("cra-secret")}},
			nil, "cra-salted", "wampcra", "backend"},
		{"scram-pbkdf2", client.Options{AuthID: "scram-user", Credentials: []client.Credential{client.SCRAM("scram-secret")}},
			nil, "scram-user", "wamp-scram", "backend"},
		{"scram-argon2id", client.Options{AuthID: "scram-argon", Credentials: []client.Credential{client.SCRAM("argon-secret")}},
			nil, "scram-argon", "wamp-scram", "backend"},
		{"cryptosign", client.Options{Credentials: []client.Credential{client.Cryptosign(ar.device)}},
			nil, "device-1", "cryptosign", "device"},
		{"tls", client.Options{Credentials: []client.Credential{client.TLSCertificate()}},
			&ar.clientCrt, "tls-service", "tls", "backend"},
		// The router takes the first offered method that knows the client.
		{"tls-then-ticket", client.Options{AuthID: "ticket-user",
			Credentials: []client.Credential{client.TLSCertificate(), client.Ticket("ticket-secret")}},
			nil, "ticket-user", "ticket", "backend"},
		{"anonymous", client.Options{}, nil, "", "anonymous", "public"},
	}
	for i, c := range cases {
		url := ar.url[i%len(ar.url)]
		t.Run(c.name, func(t *testing.T) {
			s, err := ar.dial(t, url, c.opts, c.cert)
			if err != nil {
				t.Fatalf("%s: %v", url, err)
			}
			d := s.Details()
			if d["authmethod"] != c.method || d["authrole"] != c.role || (c.authid != "" && d["authid"] != c.authid) {
				t.Errorf("%s: WELCOME authid %v authrole %v authmethod %v, want %s %s %s",
					url, d["authid"], d["authrole"], d["authmethod"], c.authid, c.role, c.method)
			}
		})
	}

	// The role's permissions apply: device-1 may register in its own
	// namespace only.
	t.Run("device-permissions", func(t *testing.T) {
		s, err := ar.dial(t, ar.url[0], client.Options{Credentials: []client.Credential{client.Cryptosign(ar.device)}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx := ctxT(t)
		h := func(context.Context, *client.Invocation) (*client.Result, error) { return &client.Result{}, nil }
		if _, err := s.Register(ctx, "device.device-1.status", h, nil); err != nil {
			t.Errorf("device-1 registering its own procedure: %v", err)
		}
		var we *client.Error
		if _, err := s.Register(ctx, "device.device-2.status", h, nil); !errors.As(err, &we) || we.URI != wamp.ErrNotAuthorized {
			t.Errorf("device-1 registering another device's procedure: %v, want %s", err, wamp.ErrNotAuthorized)
		}
	})
}

// TestAuthLiveRefused: wrong credentials, unknown ones and no certificate
// are refused with wamp.error.authentication_failed, which the error of
// Dial carries (a *client.CloseError).
func TestAuthLiveRefused(t *testing.T) {
	ar := startAuthRouter(t)
	_, unknownKey, _ := ed25519.GenerateKey(nil)
	cases := []struct {
		name string
		opts client.Options
		cert *tls.Certificate
	}{
		{"ticket", client.Options{AuthID: "ticket-user", Credentials: []client.Credential{client.Ticket("wrong")}}, nil},
		{"ticket-unknown-authid", client.Options{AuthID: "nobody", Credentials: []client.Credential{client.Ticket("ticket-secret")}}, nil},
		{"wampcra", client.Options{AuthID: "cra-user", Credentials: []client.Credential{client.WAMPCRA("wrong")}}, nil},
		{"wampcra-salted", client.Options{AuthID: "cra-salted", Credentials: []client.Credential{client.WAMPCRA("wrong")}}, nil},
		{"scram-pbkdf2", client.Options{AuthID: "scram-user", Credentials: []client.Credential{client.SCRAM("wrong")}}, nil},
		{"scram-argon2id", client.Options{AuthID: "scram-argon", Credentials: []client.Credential{client.SCRAM("wrong")}}, nil},
		{"cryptosign-unknown-key", client.Options{Credentials: []client.Credential{client.Cryptosign(unknownKey)}}, nil},
		{"tls-no-certificate", client.Options{Credentials: []client.Credential{client.TLSCertificate()}}, nil},
		{"tls-unknown-certificate", client.Options{Credentials: []client.Credential{client.TLSCertificate()}}, &ar.stranger},
	}
	for i, c := range cases {
		url := ar.url[i%len(ar.url)]
		t.Run(c.name, func(t *testing.T) {
			s, err := ar.dial(t, url, c.opts, c.cert)
			if err == nil {
				t.Fatalf("%s: joined as %v", url, s.Details()["authid"])
			}
			var ce *client.CloseError
			if !errors.As(err, &ce) || ce.Reason != wamp.ErrAuthenticationFailed {
				t.Errorf("%s: %v, want an ABORT %s", url, err, wamp.ErrAuthenticationFailed)
			}
		})
	}

	// A certificate the CA did not issue: Go's TLS client does not present
	// it (the server names the CAs it accepts), so the router has none to
	// know the client by; a client that presents it anyway fails the
	// handshake (tls.client_auth: verify) and never reaches WAMP.
	t.Run("tls-self-signed", func(t *testing.T) {
		self := testcert.Must(t)
		tlsAuth := client.Options{Credentials: []client.Credential{client.TLSCertificate()}}
		for _, url := range ar.url {
			_, err := ar.dial(t, url, tlsAuth, &self.Cert)
			var ce *client.CloseError
			if !errors.As(err, &ce) || ce.Reason != wamp.ErrAuthenticationFailed {
				t.Errorf("%s: %v, want an ABORT %s", url, err, wamp.ErrAuthenticationFailed)
			}
			o := tlsAuth
			o.TLSConfig = &tls.Config{RootCAs: ar.server.Pool,
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &self.Cert, nil }}
			s, err := client.Dial(ctxT(t), url, "realm1", &o)
			if err == nil {
				s.Close(context.Background())
				t.Fatalf("%s: joined as %v with a certificate no trusted CA issued", url, s.Details()["authid"])
			}
			if errors.As(err, &ce) {
				t.Errorf("%s: %v: want a TLS failure, not an ABORT", url, err)
			}
		}
	})
}
