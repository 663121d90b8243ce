package client

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/wamp"
)

// TestRequestIDs checks that request ids are the session scope's 1, 2, 3...
func TestRequestIDs(t *testing.T) {
	r, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &transport.Server{Router: r}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { srv.Serve(ln); close(served) }()
	defer func() { srv.Close(); <-served }()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Dial(ctx, "rs://"+ln.Addr().String(), "realm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	sub, err := s.Subscribe(ctx, "a.b", func(*Event) {}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Publish(ctx, "a.b", nil, nil, nil)
	s.Publish(ctx, "a.b", nil, nil, wamp.Dict{"acknowledge": true})
	s.Call(ctx, "no.such", nil, nil, nil)
	sub.Unsubscribe(ctx)
	if got := s.cur.reqIDs.Last(); got != 5 {
		t.Errorf("after 5 requests the last id is %d", got)
	}
}

func TestRawsocketFraming(t *testing.T) {
	f := &rawsocketFramer{}
	b := make([]byte, 4, 64)
	b = append(b, "[1]"...)
	if start := f.seal(b); start != 0 || string(b[:4]) != "\x00\x00\x00\x03" {
		t.Errorf("frame header % x at %d", b[:4], start)
	}
}
