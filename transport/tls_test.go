package transport

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/internal/testcert"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// dialTLSRS opens a RawSocket connection over TLS with client config cfg
// and returns the client and the TLS state the client saw.
func (ts *testServer) dialTLSRS(t *testing.T, cfg *tls.Config) (*rsClient, tls.ConnectionState) {
	t.Helper()
	raw, err := net.DialTimeout(ts.network, ts.addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(raw, cfg)
	t.Cleanup(func() { tc.Close() })
	tc.SetDeadline(time.Now().Add(ioTimeout))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	c := &rsClient{t: t, conn: tc, r: bufio.NewReader(tc)}
	if _, err := tc.Write([]byte{rawsocket.Magic, 0xf0 | byte(wamp.FormatJSON), 0, 0}); err != nil {
		t.Fatal(err)
	}
	var reply [4]byte
	if _, err := io.ReadFull(c.r, reply[:]); err != nil {
		t.Fatalf("rawsocket handshake: %v", err)
	}
	h, err := rawsocket.ParseReply(reply[:])
	if err != nil {
		t.Fatal(err)
	}
	c.router, c.codec = h, codec.ByFormat(wamp.FormatJSON)
	tc.SetDeadline(time.Time{})
	return c, tc.ConnectionState()
}

// TestTLSAuthentication: over real TLS sockets, on both engines and both
// TLS versions, a client logs in with its certificate (authmethod tls)
// and with cryptosign bound to the connection (tls-unique on TLS 1.2,
// tls-exporter on TLS 1.3): the router sees the connection's certificate
// and channel bindings as the client does, whichever engine carries the
// records.
func TestTLSAuthentication(t *testing.T) {
	cli := testcert.Must(t)
	pub, priv, _ := ed25519.GenerateKey(nil)
	leaf, err := x509.ParseCertificate(cli.Cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	fp := auth.Fingerprint(leaf)
	tbl := auth.NewPrincipals([]*auth.Principal{
		{AuthID: "dev", Role: "device", PublicKeys: []ed25519.PublicKey{pub}},
		{AuthID: "svc", Role: "backend", CertFingerprints: []string{fp}},
	})
	pol := &auth.Policy{}
	pol.Add(auth.MethodCryptosign, auth.NewCryptosign(tbl))
	pol.Add(auth.MethodTLS, &auth.TLSCert{Principals: tbl})
	forEngines(t, func(t *testing.T, engine string) {
		for _, vers := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(tls.VersionName(vers), func(t *testing.T) {
				ts := startServer(t, engine, func(s *Server) {
					r, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Auth: pol}}})
					if err != nil {
						t.Fatal(err)
					}
					s.Router = r
					s.TLSConfig = serverTLS.Clone()
					// Not verified: the tls method trusts fingerprints.
					s.TLSConfig.ClientAuth = tls.RequestClientCert
				})
				cfg := clientTLS.Clone()
				cfg.MaxVersion = vers

				// The client certificate.
				withCert := cfg.Clone()
				withCert.Certificates = []tls.Certificate{cli.Cert}
				c, _ := ts.dialTLSRS(t, withCert)
				c.send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles["roles"], "authmethods": wamp.List{"tls"}}})
				if w := expect[*wamp.Welcome](t, c); w.Details["authid"] != "svc" || w.Details["authmethod"] != "tls" {
					t.Fatalf("WELCOME %v", w.Details)
				}

				// Cryptosign bound to the connection.
				c, st := ts.dialTLSRS(t, cfg)
				binding, channelID := "tls-exporter", []byte(nil)
				if vers == tls.VersionTLS12 {
					sum := sha256.Sum256(st.TLSUnique)
					binding, channelID = "tls-unique", sum[:]
				} else {
					var err error
					if channelID, err = st.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32); err != nil {
						t.Fatal(err)
					}
				}
				c.send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles["roles"], "authmethods": wamp.List{"cryptosign"}, "authid": "dev",
					"authextra": wamp.Dict{"pubkey": hex.EncodeToString(pub), "channel_binding": binding}}})
				ch := expect[*wamp.Challenge](t, c)
				sig, err := auth.SignCryptosignChallenge(priv, ch.Extra["challenge"].(string), channelID)
				if err != nil {
					t.Fatal(err)
				}
				c.send(&wamp.Authenticate{Signature: sig, Extra: wamp.Dict{}})
				if w := expect[*wamp.Welcome](t, c); w.Details["authid"] != "dev" {
					t.Fatalf("WELCOME %v", w.Details)
				}

				// A signature bound to another connection fails.
				c2, _ := ts.dialTLSRS(t, cfg)
				c2.send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles["roles"], "authmethods": wamp.List{"cryptosign"}, "authid": "dev",
					"authextra": wamp.Dict{"pubkey": hex.EncodeToString(pub), "channel_binding": binding}}})
				ch = expect[*wamp.Challenge](t, c2)
				sig, _ = auth.SignCryptosignChallenge(priv, ch.Extra["challenge"].(string), channelID)
				c2.send(&wamp.Authenticate{Signature: sig, Extra: wamp.Dict{}})
				if a := expect[*wamp.Abort](t, c2); a.Reason != wamp.ErrAuthenticationFailed {
					t.Fatalf("ABORT %v", a.Reason)
				}
			})
		}
	})
}

// TestTLSHandshakePool: on the epoll engine, TLS handshakes run off the
// loops, at most MaxTLSHandshakes at once, counted, and time out: silent
// clients hold their slots (a joined session meanwhile is served as
// usual), a new client waits for a slot and gets it when one frees, and a
// silent client is dropped at HandshakeTimeout and counted as refused.
func TestTLSHandshakePool(t *testing.T) {
	if !epollSupported {
		t.Skip("no epoll engine here")
	}
	t.Run("bounded", func(t *testing.T) {
		ts := startServer(t, EngineEpoll, func(s *Server) {
			s.TLSConfig = serverTLS
			s.MaxTLSHandshakes = 2
			s.HandshakeTimeout = time.Minute
		})
		joined := ts.dialWS(t, "wamp.2.json")
		join(t, joined)
		var silent []net.Conn
		for range 2 {
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			silent = append(silent, c)
		}
		eventually(t, "two handshakes in progress", func() bool { return ts.Stats().TLSHandshakes == 2 })
		roundTrip(t, joined, 1) // the loops are not held up

		// A third client waits for a slot: its handshake starts once a
		// silent one gives up.
		done := make(chan *wsClient, 1)
		go func() {
			c, err := ts.tryWS(t, "wamp.2.json", "/ws", nil)
			if err != nil {
				t.Error(err)
			}
			done <- c
		}()
		eventually(t, "the third handshake to wait for a slot, counted", func() bool { return ts.Stats().TLSHandshakeWaits == 1 })
		if n := ts.Stats().TLSHandshakes; n > 2 {
			t.Fatalf("%d handshakes in progress, more than MaxTLSHandshakes", n)
		}
		silent[0].Close()
		c := <-done
		if c == nil {
			t.FailNow()
		}
		join(t, c)
		if n := ts.Stats().TLSHandshakes; n > 2 {
			t.Fatalf("%d handshakes in progress, more than MaxTLSHandshakes", n)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		ts := startServer(t, EngineEpoll, func(s *Server) {
			s.TLSConfig = serverTLS
			s.HandshakeTimeout = 100 * time.Millisecond
		})
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatalf("a silent client read %d bytes, %v; want the server to close", n, err)
		}
		eventually(t, "the refusal counted", func() bool { return ts.Stats().Refused["tls"] == 1 && ts.Stats().TLSHandshakes == 0 })
	})
}

// TestTLSBadRecord: a record that does not authenticate ends the
// connection with a bad_record_mac alert, on both engines, and the
// session is gone.
func TestTLSBadRecord(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		for _, vers := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(tls.VersionName(vers), func(t *testing.T) {
				ts := startServer(t, engine, func(s *Server) { s.TLSConfig = serverTLS })
				raw, err := net.DialTimeout(ts.network, ts.addr, ioTimeout)
				if err != nil {
					t.Fatal(err)
				}
				defer raw.Close()
				cfg := clientTLS.Clone()
				cfg.MaxVersion = vers
				tc := tls.Client(raw, cfg)
				c := &rsClient{t: t, conn: tc, r: bufio.NewReader(tc)}
				tc.Write([]byte{rawsocket.Magic, 0xf0 | byte(wamp.FormatJSON), 0, 0})
				var reply [4]byte
				if _, err := io.ReadFull(c.r, reply[:]); err != nil {
					t.Fatal(err)
				}
				c.codec = codec.ByFormat(wamp.FormatJSON)
				join(t, c)
				// A forged application data record, on the raw socket.
				forged := append([]byte{23, 3, 3, 0, 40}, make([]byte, 40)...)
				if _, err := raw.Write(forged); err != nil {
					t.Fatal(err)
				}
				tc.SetReadDeadline(time.Now().Add(ioTimeout))
				_, err = io.ReadAll(c.r)
				if err == nil || !strings.Contains(err.Error(), "bad record MAC") {
					t.Fatalf("after a forged record the client read %v; want the bad_record_mac alert", err)
				}
				eventually(t, "the session to end", func() bool { return ts.Router.Stats().Sessions == 0 })
			})
		}
	})
}

// TestMemoryReleasedAfterHandshakes: a burst of TLS handshakes is a spike
// for the Server's releaser (a connect storm leaves tens of KB of garbage
// per handshake): once enough have run, the memory is given back
// (ServerStats.MemoryReleases), with no large message anywhere; on both
// engines.
func TestMemoryReleasedAfterHandshakes(t *testing.T) {
	const storm = 8
	forEngines(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, func(s *Server) {
			s.TLSConfig = serverTLS
			// A spike is eight handshakes here, over after 100ms of
			// quiet.
			s.rel.threshold, s.rel.delay, s.rel.live = storm*handshakeGarbage, 100*time.Millisecond, noHeap
		})
		for range storm {
			join(t, ts.dialWS(t, "wamp.2.json"))
		}
		eventually(t, "the memory to be released", func() bool { return ts.Stats().MemoryReleases == 1 })
	})
}
