//go:build linux

package router_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// rawConn is a RawSocket JSON connection driven frame by frame, so that
// a test controls which messages arrive together.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	if _, err := conn.Write(rawsocket.AppendHandshake(nil, rawsocket.Handshake{MaxLength: 1 << 20, Serializer: wamp.FormatJSON})); err != nil {
		t.Fatal(err)
	}
	var reply [rawsocket.HandshakeSize]byte
	c.deadline()
	if _, err := io.ReadFull(c.r, reply[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := rawsocket.ParseReply(reply[:]); err != nil {
		t.Fatal(err)
	}
	return c
}

// deadline bounds the next read: a router that stops answering fails the
// test instead of hanging it.
func (c *rawConn) deadline() { c.conn.SetReadDeadline(time.Now().Add(10 * time.Second)) }

// send writes ms in one write, one frame each.
func (c *rawConn) send(ms ...wamp.Message) {
	c.t.Helper()
	var b []byte
	for _, m := range ms {
		p, err := codec.JSON.Encode(nil, m)
		if err != nil {
			c.t.Fatal(err)
		}
		b = rawsocket.AppendFrame(b, rawsocket.TypeMessage, p)
	}
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// recv returns the next message other than an EVENT.
func (c *rawConn) recv(what string) wamp.Message {
	c.t.Helper()
	for {
		var h [rawsocket.HeaderSize]byte
		c.deadline()
		if _, err := io.ReadFull(c.r, h[:]); err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
		hdr, err := rawsocket.ParseHeader(h[:])
		if err != nil {
			c.t.Fatal(err)
		}
		p := make([]byte, hdr.Length)
		if _, err := io.ReadFull(c.r, p); err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
		if hdr.Type != rawsocket.TypeMessage {
			continue
		}
		m, err := codec.JSON.Decode(p)
		if err != nil {
			c.t.Fatal(err)
		}
		if m.Type() != wamp.TypeEvent {
			return m
		}
	}
}

// TestGetEventsDoesNotHoldTheEventLoop checks, over real sockets and the
// epoll engine, that a get_events call waiting for the history writer
// (held back here, as by a slow fsync) leaves the event loop that read it
// free: the next message on the same connection is answered, and so are
// connections opened meanwhile, one on each loop and so one on the
// caller's.
func TestGetEventsDoesNotHoldTheEventLoop(t *testing.T) {
	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	var release sync.Once
	var mu sync.Mutex
	holding := false
	rt, err := router.NewWithHistoryHook(router.Config{
		Realms:      []router.RealmConfig{{Name: "realm1", Anonymous: true, History: []router.HistoryRule{{Match: wamp.MatchExact, Topic: "com.hist", Limit: 10}}}},
		HistoryPath: filepath.Join(t.TempDir(), "h.db"),
	}, func() {
		mu.Lock()
		hold := holding
		mu.Unlock()
		if hold {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-gate
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := transport.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &transport.Server{Router: rt, Engine: transport.EngineEpoll}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		release.Do(func() { close(gate) })
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := rt.Close(); err != nil {
			t.Errorf("router Close: %v", err)
		}
	})
	addr := ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dial := func(what string) *client.Session {
		t.Helper()
		s, err := client.Dial(ctx, "rs://"+addr, "realm1", nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		return s
	}

	caller := dialRaw(t, addr)
	caller.send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": wamp.Dict{"caller": wamp.Dict{}, "subscriber": wamp.Dict{}}}})
	if m := caller.recv("WELCOME"); m.Type() != wamp.TypeWelcome {
		t.Fatalf("want WELCOME, got %+v", m)
	}
	caller.send(&wamp.Subscribe{Request: 1, Topic: "com.hist"})
	subscribed, ok := caller.recv("SUBSCRIBED").(*wamp.Subscribed)
	if !ok {
		t.Fatal("no SUBSCRIBED")
	}

	publisher := dial("the publisher")
	mu.Lock()
	holding = true
	mu.Unlock()
	if _, err := publisher.Publish(ctx, "com.hist", wamp.List{"held"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("the history writer never reached the gate")
	}

	// get_events and a second CALL arrive together: the loop reads the
	// second only after routing the first.
	caller.send(
		&wamp.Call{Request: 2, Procedure: "wamp.subscription.get_events", Payload: wamp.Payload{Args: wamp.List{uint64(subscribed.Subscription)}}},
		&wamp.Call{Request: 3, Procedure: "wamp.session.count"},
	)
	if res, ok := caller.recv("the answer to the CALL after get_events").(*wamp.Result); !ok || res.Request != 3 {
		t.Fatalf("want RESULT 3 (the CALL after get_events) first, got %+v", res)
	}
	// Connections accepted one after another go to the loops in turn: as
	// many as there are loops reach every loop, the caller's among them.
	for i := range runtime.GOMAXPROCS(0) {
		s := dial(fmt.Sprintf("connection %d, opened while get_events waits", i))
		if _, err := s.Call(ctx, "wamp.session.count", nil, nil, nil); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}

	release.Do(func() { close(gate) })
	res, ok := caller.recv("the answer to get_events").(*wamp.Result)
	if !ok || res.Request != 2 {
		t.Fatalf("want RESULT 2 (get_events), got %+v", res)
	}
	args, _, err := codec.DecodePayload(&res.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if evs, _ := args[0].([]any); len(evs) != 1 {
		t.Fatalf("get_events answered %v, want the one publication", args)
	}
}
