package router_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/wamp"
)

// TestTicketFloodLocksNobodyOut: hundreds of connections from 127.0.0.1
// send wrong tickets and hang up right after AUTHENTICATE, again and
// again; meanwhile a correct ticket login over a Unix socket (another
// address) gets in, while the flood goes on, having waited for no more
// than a few of the flood's hashes, and the checks of the clients that
// hung up are dropped unhashed. Before, every wrong ticket of a closed
// connection was hashed in turn, and the good login waited behind all
// those sent before it (hundreds).
//
// The good login starts once the flood has sent floodStart wrong tickets,
// and must be welcomed before the flood gives up at floodEnd; it is
// counted in events (tickets sent, hashes computed), not in time.
func TestTicketFloodLocksNobodyOut(t *testing.T) {
	const (
		workers    = 200   // flood connections at once
		floodStart = 600   // wrong tickets sent before the good login starts
		floodEnd   = 30000 // the flood gives up after this many
		// waitedFor bounds the flood's hashes computed while the good
		// login waits: those already running or next in turn when it
		// comes, and those started while its HELLO and CHALLENGE go back
		// and forth, which a hash (tens of milliseconds) far outlasts.
		waitedFor = 20
	)
	// Argon2id with the default costs: each hash costs as much as a few
	// hundred of the flood's connections.
	h, err := auth.HashPassword("right", "argon2id")
	if err != nil {
		t.Fatal(err)
	}
	pol := &auth.Policy{} // no throttle: the hashing alone must stay fair
	pol.Add(auth.MethodTicket, &auth.Ticket{Principals: auth.NewPrincipals([]*auth.Principal{{AuthID: "joe", Role: "user", Ticket: h}})})
	rt, err := router.New(router.Config{
		Realms:         []router.RealmConfig{{Name: "realm1", Auth: pol}},
		PasswordChecks: auth.KDFLimits{Concurrent: 1}, // one slot, for all: the flood and the good login
	})
	if err != nil {
		t.Fatal(err)
	}
	tcp := serve(t, rt, "127.0.0.1:0")
	sock := filepath.Join(t.TempDir(), "j.sock")
	serve(t, rt, "unix:"+sock)

	var sent atomic.Int64 // wrong tickets sent (connections closed right after)
	started, ended, stop := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	stopFlood := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopFlood()
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !wrongTicket(t, tcp) {
					return
				}
				switch n := sent.Add(1); {
				case n == floodStart:
					close(started)
				case n == floodEnd:
					close(ended)
				case n > floodEnd:
					return
				}
			}
		})
	}

	select {
	case <-started:
	case <-ended:
		t.Fatal("the flood ended before it started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	welcomed := make(chan error, 1)
	before := rt.PasswordStats().Computed
	go func() {
		sess, err := client.Dial(ctx, "unix://"+sock, "realm1", &client.Options{AuthID: "joe", Credentials: []client.Credential{client.Ticket("right")}})
		if err == nil {
			err = sess.Close(ctx)
		}
		welcomed <- err
	}()
	select {
	case err := <-welcomed:
		if err != nil {
			t.Fatalf("good login during the flood: %v", err)
		}
		if n := rt.PasswordStats().Computed - before - 1; n > waitedFor {
			t.Errorf("the good login waited for %d of the flood's hashes; want at most %d", n, waitedFor)
		}
	case <-ended:
		cancel()
		<-welcomed
		t.Fatalf("the flood sent all its %d wrong tickets and the good login was still waiting (for the flood's checks)", floodEnd)
	}
	stopFlood()

	// Once the flood's last checks are over: most were dropped unhashed.
	for st := rt.PasswordStats(); st.Running+st.Waiting > 0; st = rt.PasswordStats() {
		if ctx.Err() != nil {
			t.Fatalf("the flood's checks are still going on: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
	st, n := rt.PasswordStats(), uint64(sent.Load())
	t.Logf("%d wrong tickets: %+v", n, st)
	if st.Abandoned == 0 {
		t.Errorf("no check was abandoned although the flood's clients hung up at once: %+v", st)
	}
	if st.Computed+st.Abandoned+st.Refused > n+1 {
		t.Errorf("more checks counted (%+v) than tickets sent (%d + 1)", st, n)
	}
	if st.Computed > n/4 {
		t.Errorf("%d of %d checks hashed although their clients had hung up: %+v", st.Computed, n+1, st)
	}
}

// serve serves rt on a new listener at address and returns the address.
func serve(t *testing.T, rt *router.Router, address string) string {
	t.Helper()
	ln, err := transport.Listen(address)
	if err != nil {
		t.Fatal(err)
	}
	srv := &transport.Server{Router: rt}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// wrongTicket logs in as joe over RawSocket (JSON) with a wrong ticket and
// hangs up right after AUTHENTICATE, without waiting for the verdict. It
// reports false (and fails t) when the router did not answer as it should.
func wrongTicket(t *testing.T, addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Errorf("flood: %v", err)
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	out := rawsocket.AppendHandshake(nil, rawsocket.Handshake{MaxLength: 1 << 16, Serializer: wamp.FormatJSON})
	out = rawsocket.AppendFrame(out, rawsocket.TypeMessage, []byte(`[1,"realm1",{"authmethods":["ticket"],"authid":"joe","roles":{"caller":{}}}]`))
	if _, err := c.Write(out); err != nil {
		t.Errorf("flood: HELLO: %v", err)
		return false
	}
	r := bufio.NewReader(c)
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		t.Errorf("flood: handshake: %v", err)
		return false
	}
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		t.Errorf("flood: waiting for CHALLENGE: %v", err)
		return false
	}
	h, err := rawsocket.ParseHeader(hdr[:])
	if err != nil {
		t.Errorf("flood: waiting for CHALLENGE: %v", err)
		return false
	}
	msg := make([]byte, h.Length)
	if _, err := io.ReadFull(r, msg); err != nil || !strings.HasPrefix(string(msg), `[4,"ticket"`) {
		t.Errorf("flood: want CHALLENGE ticket, got %q (%v)", msg, err)
		return false
	}
	if _, err := c.Write(rawsocket.AppendFrame(nil, rawsocket.TypeMessage, []byte(`[5,"wrong",{}]`))); err != nil {
		t.Errorf("flood: AUTHENTICATE: %v", err)
		return false
	}
	return true
}
