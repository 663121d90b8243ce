package interop

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// TestBadPayloadSpareSubscribers: a raw RawSocket JSON client publishes
// payloads that are not UTF-8 (a string, a kwargs key) to a topic that an
// Autobahn|Python session on WebSocket JSON subscribes to, exactly and by
// prefix. Autobahn drops a connection that sends it a text frame that is
// not UTF-8 (close 1007); the router must refuse the publications with
// ERROR instead, so that the subscriber gets only the valid event after
// them and stays connected (python/client.py, role sub-survives).
func TestBadPayloadSpareSubscribers(t *testing.T) {
	py := withScript(pythonClient(t), "client.py")
	requireClients(t, py)
	r := startRouter(t, routerBinary(t))
	ctx, cancel := context.WithTimeout(t.Context(), crossTimeout)
	defer cancel()

	topic := uniqueTopic("utf8")
	sub := r.startClient(ctx, t, py, "sub-survives", "--url", r.url("websocket"), "--serializer", "json", "--topic", string(topic))
	select {
	case <-sub.stdout.ready:
	case <-sub.exited:
	case <-ctx.Done():
	}
	if !sub.stdout.sawReady() {
		sub.report(t, r)
		t.Fatal("the subscriber did not print READY")
	}

	pub := dialRawSocket(t, r, codec.JSON)
	for i, bad := range []string{
		"[16,%d,{\"acknowledge\":true},\"%s\",[\"\xff\xfe\"]]",
		"[16,%d,{\"acknowledge\":true},\"%s\",[],{\"k\xc0\xaf\":1}]",
	} {
		req := wamp.ID(i + 1)
		pub.write(fmt.Appendf(nil, bad, req, topic))
		m := pub.recv()
		if e, ok := m.(*wamp.Error); !ok || e.Request != req || e.Error != wamp.ErrInvalidArgument {
			t.Errorf("bad publication %d: want ERROR invalid_argument, got %T %+v", req, m, m)
		}
	}
	pub.write(fmt.Appendf(nil, `[16,%d,{"acknowledge":true},"%s",["fence"]]`, 9, topic))
	if m := pub.recv(); m.Type() != wamp.TypePublished {
		t.Errorf("fence: want PUBLISHED, got %+v", m)
	}

	if err := sub.wait(); err != nil {
		t.Errorf("sub-survives %s", sub.exitDescription(err))
	}
	sub.checkResults(t, "sub-survives")
	if t.Failed() {
		sub.report(t, r)
	}
}

// rawSocketSession is a WAMP session over RawSocket that writes messages
// as bytes, for what no client library sends.
type rawSocketSession struct {
	t    *testing.T
	c    codec.Codec
	conn net.Conn
}

// dialRawSocket joins realm1 over RawSocket.
func dialRawSocket(t *testing.T, r *router, c codec.Codec) *rawSocketSession {
	t.Helper()
	conn, err := net.DialTimeout("tcp", r.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.Write(rawsocket.AppendHandshake(nil, rawsocket.Handshake{MaxLength: rawsocket.MaxLength, Serializer: c.Format()}))
	var reply [4]byte
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(conn, reply[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := rawsocket.ParseReply(reply[:]); err != nil {
		t.Fatal(err)
	}
	s := &rawSocketSession{t: t, c: c, conn: conn}
	hello, err := c.Encode(nil, &wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": wamp.Dict{"publisher": wamp.Dict{}}}})
	if err != nil {
		t.Fatal(err)
	}
	s.write(hello)
	if m := s.recv(); m.Type() != wamp.TypeWelcome {
		t.Fatalf("want WELCOME, got %+v", m)
	}
	return s
}

func (s *rawSocketSession) write(b []byte) {
	s.t.Helper()
	if _, err := s.conn.Write(rawsocket.AppendFrame(nil, rawsocket.TypeMessage, b)); err != nil {
		s.t.Fatal(err)
	}
}

// recv returns the next message; the deadline only guards against a hang.
func (s *rawSocketSession) recv() wamp.Message {
	s.t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(s.conn, hdr[:]); err != nil {
			s.t.Fatalf("reading from the router: %v", err)
		}
		b := make([]byte, int(hdr[1])<<16|int(hdr[2])<<8|int(hdr[3]))
		if _, err := io.ReadFull(s.conn, b); err != nil {
			s.t.Fatalf("reading from the router: %v", err)
		}
		if rawsocket.FrameType(hdr[0]&0x7) != rawsocket.TypeMessage {
			continue // the router does not ping by default
		}
		m, err := s.c.Decode(b)
		if err != nil {
			s.t.Fatalf("router sent %q: %v", b, err)
		}
		return m
	}
}
