package client

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/internal/testwait"
)

// answerGoodbyes plays the router's part in a Close on sc: it answers
// GOODBYE, and returns when the client has closed the connection.
func answerGoodbyes(sc *scriptedConn) {
	for {
		m, err := sc.recv()
		if err != nil {
			return
		}
		if m[0].(float64) == 6 {
			sc.send(`[6, {}, "wamp.close.goodbye_and_out"]`)
		}
	}
}

// TestCloseWhileReconnecting: Close at any point of a reconnect (while it
// joins, just after) ends the session and closes the connection the
// reconnect made, and returns nil. The race it guards: a reconnect that set
// the session's new connection between Close seeing none and ending the
// session left that connection and its reader alive, and Close waited for
// them until its context ran out. That window is a few instructions wide,
// so this test met it only once Close was made to pause in it.
func TestCloseWhileReconnecting(t *testing.T) {
	sr := startScripted(t, welcomeCancel)
	for i := range 100 {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		s, err := Dial(ctx, sr.url, "realm1", &Options{Reconnect: &Reconnect{MinDelay: time.Nanosecond, MaxDelay: time.Nanosecond}})
		if err != nil {
			t.Fatal(err)
		}
		c1 := <-sr.conns
		c1.c.Close()
		c2 := <-sr.conns // welcomed: the client is joining, or done
		gone := make(chan struct{})
		go func() {
			defer close(gone)
			answerGoodbyes(c2)
		}()
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		err = s.Close(cctx)
		ccancel()
		if err != nil {
			t.Fatalf("close %d during a reconnect: %v", i, err)
		}
		select {
		case <-gone:
		case <-ctx.Done():
			t.Fatalf("close %d: the connection made by the reconnect outlived Close", i)
		}
		c2.c.Close()
		cancel()
	}
}

// TestOnDisconnectDoesNotHoldUpReconnect: the session reconnects while its
// OnDisconnect still runs (it used to run it on the reconnecting goroutine,
// so one that waited, for the session itself say, stopped the reconnect);
// OnReconnect still comes after OnDisconnect has returned.
func TestOnDisconnectDoesNotHoldUpReconnect(t *testing.T) {
	sr := startScripted(t, welcomeCancel)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var (
		mu    sync.Mutex
		order []string
	)
	note := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	lost, release, back := make(chan struct{}), make(chan struct{}), make(chan struct{})
	s, err := Dial(ctx, sr.url, "realm1", &Options{Reconnect: &Reconnect{MinDelay: time.Millisecond, MaxDelay: time.Millisecond,
		OnDisconnect: func(error) {
			close(lost)
			<-release
			note("disconnect")
		},
		OnReconnect: func(Reconnected) {
			note("reconnect")
			close(back)
		}}})
	if err != nil {
		t.Fatal(err)
	}
	c1 := <-sr.conns
	c1.c.Close()
	<-lost
	var c2 *scriptedConn
	select {
	case c2 = <-sr.conns:
	case <-ctx.Done():
		t.Fatal("no reconnect while OnDisconnect runs")
	}
	go answerGoodbyes(c2)
	defer c2.c.Close()
	close(release)
	select {
	case <-back:
	case <-ctx.Done():
		t.Fatal("no OnReconnect")
	}
	mu.Lock()
	got := strings.Join(order, ",")
	mu.Unlock()
	if got != "disconnect,reconnect" {
		t.Fatalf("callbacks ran in the order %s", got)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestReconnectCallbackPanic: a panic in OnDisconnect is recovered and
// logged (it crashed the process), and the session reconnects and calls
// OnReconnect.
func TestReconnectCallbackPanic(t *testing.T) {
	sr := startScripted(t, welcomeCancel)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var logs testwait.Buffer
	back := make(chan struct{})
	s, err := Dial(ctx, sr.url, "realm1", &Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Reconnect: &Reconnect{MinDelay: time.Millisecond, MaxDelay: time.Millisecond,
			OnDisconnect: func(error) { panic("boom") },
			OnReconnect:  func(Reconnected) { close(back) }}})
	if err != nil {
		t.Fatal(err)
	}
	c1 := <-sr.conns
	c1.c.Close()
	c2 := <-sr.conns
	go answerGoodbyes(c2)
	defer c2.c.Close()
	select {
	case <-back:
	case <-ctx.Done():
		t.Fatal("no OnReconnect")
	}
	if l := logs.String(); !strings.Contains(l, "a reconnect callback panicked") || !strings.Contains(l, "boom") {
		t.Fatalf("the panic was not logged: %s", l)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestEventHandlerPanic: an event handler's panic is recovered and logged,
// and the subscription's next event is delivered (it crashed the process).
func TestEventHandlerPanic(t *testing.T) {
	sr := startScripted(t, welcomeCancel)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var logs testwait.Buffer
	s, err := Dial(ctx, sr.url, "realm1", &Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	sc := <-sr.conns
	defer func() { sc.c.Close(); <-s.Done() }()
	go func() {
		m, _ := sc.recvType(32)
		sc.send(fmt.Sprintf(`[33, %v, 5]`, m[1]))
	}()
	got := make(chan any, 2)
	if _, err := s.Subscribe(ctx, "com.example.t", func(ev *Event) {
		if ev.Args[0] == "boom" {
			panic("boom")
		}
		got <- ev.Args[0]
	}, nil); err != nil {
		t.Fatal(err)
	}
	sc.send(`[36, 5, 1, {}, ["boom"]]`)
	sc.send(`[36, 5, 2, {}, ["ok"]]`)
	select {
	case v := <-got:
		if v != "ok" {
			t.Fatalf("event %v", v)
		}
	case <-ctx.Done():
		t.Fatal("the event after the panic was not delivered")
	}
	if l := logs.String(); !strings.Contains(l, "event handler panicked") || !strings.Contains(l, "boom") {
		t.Fatalf("the panic was not logged: %s", l)
	}
}
