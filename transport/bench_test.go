package transport

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// BenchmarkSend measures Peer.Send of a fanned-out EVENT (encoded once, as
// the broker does) to a RawSocket client that reads as fast as it can: the
// cost of framing onto the pending bytes, with the writer's batched writes
// running alongside.
func BenchmarkSend(b *testing.B) {
	rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{Router: rt}
	go s.Serve(ln)
	defer s.Close()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0x7f, 0xf1, 0, 0})
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		b.Fatal(err)
	}
	var sc *conn
	for sc == nil {
		s.mu.Lock()
		for cc := range s.conns {
			if cc.attached() {
				sc = cc
			}
		}
		s.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	go io.Copy(io.Discard, c)

	ev := wamp.NewShared(&wamp.Event{Subscription: 1, Publication: 2,
		Payload: wamp.Payload{Args: wamp.List{"hello", 42}, Kwargs: wamp.Dict{"k": "v"}}})
	b.ReportAllocs()
	for b.Loop() {
		for sc.Send(ev) != nil {
			// Queue full: let the writer catch up.
		}
	}
}
