package tlsrec

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// talk writes msgs over the client connection and reads them back.
func talk(t *testing.T, tc *tls.Conn, msgs [][]byte) {
	t.Helper()
	var all []byte
	for _, m := range msgs {
		all = append(all, m...)
	}
	werr := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			if _, err := tc.Write(m); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	got := make([]byte, len(all))
	if _, err := io.ReadFull(tc, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("writing: %v", err)
	}
	if !bytes.Equal(got, all) {
		t.Fatal("the echo differs from what was sent")
	}
}

// testMessages are sizes around the record limits, and many small ones.
func testMessages() [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	var msgs [][]byte
	for _, n := range []int{1, 100, MaxPlaintext - 1, MaxPlaintext, MaxPlaintext + 1, 100_000, 1 << 20} {
		m := make([]byte, n)
		for i := range m {
			m[i] = byte(r.Uint32())
		}
		msgs = append(msgs, m)
	}
	for i := range 1000 {
		msgs = append(msgs, []byte(fmt.Sprintf("small %d;", i)))
	}
	return msgs
}

// closeAndWait sends close_notify and expects the server's close_notify
// back (io.EOF) and the server to have seen ours.
func closeAndWait(t *testing.T, tc *tls.Conn, done <-chan echoResult, want int) echoResult {
	t.Helper()
	if err := tc.CloseWrite(); err != nil {
		t.Fatalf("sending close_notify: %v", err)
	}
	if n, err := tc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after close_notify the server sent %d bytes, %v; want its close_notify (EOF)", n, err)
	}
	tc.Close()
	er := <-done
	if !errors.Is(er.err, ErrCloseNotify) {
		t.Fatalf("the server ended with %v, want ErrCloseNotify", er.err)
	}
	if er.opened != want {
		t.Fatalf("the server opened %d bytes, want %d", er.opened, want)
	}
	return er
}

// TestGoClient runs crypto/tls's client against the record layer over
// loopback: TLS 1.3, and TLS 1.2 with each suite; records of every size.
func TestGoClient(t *testing.T) {
	cases := []struct {
		name  string
		vers  uint16
		suite uint16
	}{
		{"TLS13", tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256},
		{"ECDHE_ECDSA_AES128_GCM", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{"ECDHE_RSA_AES128_GCM", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
		{"ECDHE_ECDSA_AES256_GCM", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		{"ECDHE_RSA_AES256_GCM", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384},
		{"ECDHE_ECDSA_CHACHA20", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
		{"ECDHE_RSA_CHACHA20", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256},
	}
	msgs := testMessages()
	total := 0
	for _, m := range msgs {
		total += len(m)
	}
	for _, tt := range cases {
		for _, update := range []bool{false, true} {
			name := tt.name
			if update {
				if tt.vers != tls.VersionTLS13 {
					continue
				}
				name += "/KeyUpdateFromServer"
			}
			t.Run(name, func(t *testing.T) {
				ln := listen(t)
				done := echoServerOpt(t, ln, mustConfig(t, serverConfig()), update)
				cc := clientConfig()
				cc.MaxVersion = tt.vers
				if tt.vers == tls.VersionTLS12 {
					cc.CipherSuites = []uint16{tt.suite}
				}
				tc, err := tls.Dial("tcp", ln.Addr().String(), cc)
				if err != nil {
					t.Fatal(err)
				}
				defer tc.Close()
				if cs := tc.ConnectionState(); cs.Version != tt.vers || cs.CipherSuite != tt.suite {
					t.Fatalf("negotiated %s %s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite))
				}
				talk(t, tc, msgs)
				er := closeAndWait(t, tc, done, total)
				if er.res.Conn.Version() != tt.vers || er.res.Conn.CipherSuite() != tt.suite {
					t.Fatalf("the record layer runs %s %s", tls.VersionName(er.res.Conn.Version()), tls.CipherSuiteName(er.res.Conn.CipherSuite()))
				}
				if update && er.res.Conn.out.seq > 100 {
					t.Fatalf("after KeyUpdates the write sequence number is %d", er.res.Conn.out.seq)
				}
			})
		}
	}
}

// TestSessionResumption: a TLS 1.3 client resumes with the ticket the
// record layer's handshake sent (the ticket record was counted, or the
// echo would not open), and a TLS 1.2 client gets no ticket.
func TestSessionResumption(t *testing.T) {
	for _, vers := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(vers), func(t *testing.T) {
			ln := listen(t)
			cfg := mustConfig(t, serverConfig())
			cc := clientConfig()
			cc.MaxVersion = vers
			cc.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			for i := range 2 {
				done := echoServer(t, ln, cfg)
				tc, err := tls.Dial("tcp", ln.Addr().String(), cc)
				if err != nil {
					t.Fatal(err)
				}
				// The ticket comes with the server's first flight (TLS
				// 1.3); reading the echo makes the client take it.
				talk(t, tc, [][]byte{[]byte("hello")})
				resumed := tc.ConnectionState().DidResume
				closeAndWait(t, tc, done, 5)
				want := i == 1 && vers == tls.VersionTLS13
				if resumed != want {
					t.Fatalf("connection %d: resumed %v, want %v", i, resumed, want)
				}
			}
		})
	}
}

// TestClientCertificate: the client's certificate is in Result.State, and
// the exporter works after the tls.Conn is gone and agrees with the
// client's.
func TestClientCertificate(t *testing.T) {
	for _, vers := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(vers), func(t *testing.T) {
			ln := listen(t)
			sc := serverConfig()
			sc.ClientAuth = tls.RequireAndVerifyClientCert
			sc.ClientCAs = testCerts().pool
			done := echoServer(t, ln, mustConfig(t, sc))
			cc := clientConfig()
			cc.MaxVersion = vers
			cc.Certificates = []tls.Certificate{testCerts().client}
			tc, err := tls.Dial("tcp", ln.Addr().String(), cc)
			if err != nil {
				t.Fatal(err)
			}
			defer tc.Close()
			talk(t, tc, [][]byte{[]byte("with a certificate")})
			er := closeAndWait(t, tc, done, 18)
			st := er.res.State
			if len(st.PeerCertificates) != 1 || !bytes.Equal(st.PeerCertificates[0].Raw, testCerts().client.Certificate[0]) {
				t.Fatal("the server's state lacks the client certificate")
			}
			cs := tc.ConnectionState()
			want, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
			if err != nil {
				t.Fatal(err)
			}
			got, err := st.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("the server's tls-exporter is %x (%v), the client's %x", got, err, want)
			}
			if vers == tls.VersionTLS12 && (len(st.TLSUnique) == 0 || !bytes.Equal(st.TLSUnique, cs.TLSUnique)) {
				t.Fatalf("tls-unique: server %x, client %x", st.TLSUnique, cs.TLSUnique)
			}
		})
	}
}

// TestClientCertificateRefused: a handshake crypto/tls refuses fails in
// Handshake, with crypto/tls's error.
func TestClientCertificateRefused(t *testing.T) {
	ln := listen(t)
	sc := serverConfig()
	sc.ClientAuth = tls.RequireAndVerifyClientCert
	sc.ClientCAs = testCerts().pool
	done := echoServer(t, ln, mustConfig(t, sc))
	tc, err := tls.Dial("tcp", ln.Addr().String(), clientConfig())
	if err == nil {
		_, err = tc.Read(make([]byte, 1)) // TLS 1.3: the refusal comes after the client's Finished
		tc.Close()
	}
	if err == nil {
		t.Fatal("the client without a certificate got through")
	}
	if er := <-done; er.err == nil || er.res != nil {
		t.Fatalf("the server's handshake ended with %v", er.err)
	}
}

// flushOnRead is a client connection that holds its writes until it reads
// or Flush is called: the client's Finished and its first records then
// reach the server in one write.
type flushOnRead struct {
	net.Conn
	pending []byte
}

func (f *flushOnRead) Write(p []byte) (int, error) {
	f.pending = append(f.pending, p...)
	return len(p), nil
}

func (f *flushOnRead) Read(p []byte) (int, error) {
	if err := f.Flush(); err != nil {
		return 0, err
	}
	return f.Conn.Read(p)
}

func (f *flushOnRead) Flush() error {
	if len(f.pending) == 0 {
		return nil
	}
	_, err := f.Conn.Write(f.pending)
	f.pending = f.pending[:0]
	return err
}

// TestLeftover: application data that arrives with the client's Finished
// stays out of crypto/tls and comes out of Open.
func TestLeftover(t *testing.T) {
	cs, ss := net.Pipe()
	defer cs.Close()
	defer ss.Close()
	cfg := mustConfig(t, serverConfig())
	type hs struct {
		res *Result
		err error
	}
	done := make(chan hs, 1)
	go func() {
		res, err := cfg.Handshake(ss, time.Time{})
		done <- hs{res, err}
	}()
	f := &flushOnRead{Conn: cs}
	tc := tls.Client(f, clientConfig())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	msg := []byte("early enough to travel with the Finished")
	if _, err := tc.Write(msg); err != nil {
		t.Fatal(err)
	}
	go f.Flush() // net.Pipe: the write waits for the server's read
	h := <-done
	if h.err != nil {
		t.Fatal(h.err)
	}
	if len(h.res.Leftover) == 0 {
		t.Fatal("no leftover")
	}
	buf := bytes.Clone(h.res.Leftover)
	r, err := h.res.Conn.Open(buf)
	if err != nil || r.Need != 0 || r.Used != len(buf) || !bytes.Equal(buf[:r.N], msg) {
		t.Fatalf("Open(leftover) = %+v, %v, %q", r, err, buf[:r.N])
	}
}

// TestHelloRetryRequest: a TLS 1.3 handshake that goes through a
// HelloRetryRequest (the client's key share is not for the server's
// curve) hands over as a plain one does: the server's first handshake
// record is then the HelloRetryRequest, and a dummy change_cipher_spec
// and a second ServerHello follow it.
func TestHelloRetryRequest(t *testing.T) {
	ln := listen(t)
	sc := serverConfig()
	sc.CurvePreferences = []tls.CurveID{tls.CurveP384}
	done := echoServer(t, ln, mustConfig(t, sc))
	cc := clientConfig()
	cc.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP384} // a share for X25519 only
	tc, err := tls.Dial("tcp", ln.Addr().String(), cc)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if cs := tc.ConnectionState(); cs.Version != tls.VersionTLS13 || cs.CurveID != tls.CurveP384 || !cs.HelloRetryRequest {
		t.Fatalf("negotiated %s with %s, HelloRetryRequest %v", tls.VersionName(cs.Version), cs.CurveID, cs.HelloRetryRequest)
	}
	msgs := testMessages()
	total := 0
	for _, m := range msgs {
		total += len(m)
	}
	talk(t, tc, msgs)
	closeAndWait(t, tc, done, total)
}
