package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/wamp"
)

// scriptedRouter speaks RawSocket and JSON and does what the test says:
// it answers HELLO with WELCOME and hands the test each connection, so a
// test can drop a connection at a chosen message.

type scriptedRouter struct {
	ln    net.Listener
	url   string
	conns chan *scriptedConn
	wg    sync.WaitGroup
}

type scriptedConn struct {
	c net.Conn
	r *bufio.Reader
}

func startScripted(t *testing.T, welcome string) *scriptedRouter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fr := &scriptedRouter{ln: ln, url: "rs://" + ln.Addr().String(), conns: make(chan *scriptedConn, 16)}
	fr.wg.Add(1)
	go func() {
		defer fr.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if _, err := rawsocket.Accept(c, 1<<24); err != nil {
				c.Close()
				continue
			}
			fc := &scriptedConn{c: c, r: bufio.NewReader(c)}
			if _, err := fc.recv(); err != nil { // HELLO
				c.Close()
				continue
			}
			fc.send(welcome)
			fr.conns <- fc
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		fr.wg.Wait()
		for {
			select {
			case c := <-fr.conns:
				c.c.Close()
			default:
				return
			}
		}
	})
	return fr
}

func (fc *scriptedConn) send(msg string) error {
	_, err := fc.c.Write(rawsocket.AppendFrame(nil, rawsocket.TypeMessage, []byte(msg)))
	return err
}

func (fc *scriptedConn) recv() ([]any, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(fc.r, hdr[:]); err != nil {
		return nil, err
	}
	h, err := rawsocket.ParseHeader(hdr[:])
	if err != nil {
		return nil, err
	}
	buf := make([]byte, h.Length)
	if _, err := io.ReadFull(fc.r, buf); err != nil {
		return nil, err
	}
	var m []any
	if err := json.Unmarshal(buf, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// recvType reads until a message of type typ arrives.
func (fc *scriptedConn) recvType(typ float64) ([]any, error) {
	fc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer fc.c.SetReadDeadline(time.Time{})
	for {
		m, err := fc.recv()
		if err != nil {
			return nil, err
		}
		if m[0].(float64) == typ {
			return m, nil
		}
	}
}

const welcomeCancel = `[2, 77, {"roles": {"dealer": {"features": {"call_canceling": true}}, "broker": {}}}]`

// TestCallInFlightConnectionLost: a call in flight when the connection
// drops (no Reconnect) fails with an error that wraps ErrConnectionLost,
// whichever of the connection and the session ends it first (it depended
// on that: about half the calls got the bare cause).
func TestCallInFlightConnectionLost(t *testing.T) {
	sr := startScripted(t, welcomeCancel)
	for i := range 20 {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		s, err := Dial(ctx, sr.url, "realm1", nil)
		if err != nil {
			t.Fatal(err)
		}
		sc := <-sr.conns
		errc := make(chan error, 1)
		go func() { _, err := s.Call(ctx, "com.example.p", nil, nil, nil); errc <- err }()
		if _, err := sc.recvType(48); err != nil {
			t.Fatal(err)
		}
		sc.c.Close()
		if err := <-errc; !errors.Is(err, ErrConnectionLost) {
			t.Fatalf("call %d in flight when the connection dropped: %v", i, err)
		}
		s.Close(ctx)
		cancel()
	}
}

// TestRefusedRestoreIsGone: a registration the router refused to restore
// after a reconnect is gone, as Reconnected.Failed says: it is not tried
// again at the next reconnect, where it took the procedure from the one
// the application registered anew when told (it used to).
func TestRefusedRestoreIsGone(t *testing.T) {
	sr := startScripted(t, welcomeCancel)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	back := make(chan Reconnected, 4)
	s, err := Dial(ctx, sr.url, "realm1", &Options{Reconnect: &Reconnect{MinDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond,
		OnReconnect: func(r Reconnected) { back <- r }}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c, cc := context.WithTimeout(ctx, time.Second); s.Close(c); cc() }()
	h := func(context.Context, *Invocation) (*Result, error) { return nil, nil }
	answer := func(sc *scriptedConn, msg string) {
		m, err := sc.recvType(64)
		if err != nil {
			t.Error(err)
			return
		}
		sc.send(fmt.Sprintf(msg, m[1]))
	}

	c1 := <-sr.conns
	go answer(c1, `[65, %v, 1]`)
	if _, err := s.Register(ctx, "com.example.p", h, nil); err != nil {
		t.Fatal(err)
	}
	c1.c.Close()

	// Connection 2: the procedure was taken meanwhile.
	c2 := <-sr.conns
	answer(c2, `[8, 64, %v, {}, "wamp.error.procedure_already_exists"]`)
	if rc := <-back; len(rc.Failed) != 1 {
		t.Fatalf("the reconnect reported %+v, want one registration gone", rc)
	}
	// The application, told so, registers it again.
	go answer(c2, `[65, %v, 2]`)
	again, err := s.Register(ctx, "com.example.p", h, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2.c.Close()

	// Connection 3: the restore registers the live registration only.
	c3 := <-sr.conns
	var registers atomic.Int32
	go func() {
		for {
			m, err := c3.recv()
			if err != nil {
				return
			}
			if m[0].(float64) == 64 {
				registers.Add(1)
				c3.send(fmt.Sprintf(`[65, %v, 3]`, m[1]))
			}
		}
	}()
	if rc := <-back; len(rc.Failed) != 0 {
		t.Fatalf("the second reconnect failed to restore %v", rc.Failed)
	}
	if n := registers.Load(); n != 1 || again.ID() != 3 {
		t.Fatalf("the restore sent %d REGISTERs (want 1), the live registration's id is %d (want 3)", n, again.ID())
	}
}

// TestLateChunkAfterManyAnswers: a callee that answers streamed calls
// before their last chunk remembers them to drop a chunk that crossed its
// answer on the wire; past 1,024 of them it forgets the oldest, not the
// newest (it used to stop remembering, and then ran the handler again for
// such a chunk, as a new call, and answered twice).
func TestLateChunkAfterManyAnswers(t *testing.T) {
	sr := startScripted(t, welcomeCancel)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := Dial(ctx, sr.url, "realm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := <-sr.conns
	defer func() { sc.c.Close(); <-s.Done() }()
	go func() {
		m, _ := sc.recvType(64)
		sc.send(fmt.Sprintf(`[65, %v, 1]`, m[1]))
	}()
	var mu sync.Mutex
	calls := map[wamp.ID]int{}
	if _, err := s.Register(ctx, "com.example.p", func(_ context.Context, inv *Invocation) (*Result, error) {
		mu.Lock()
		calls[inv.Request]++
		mu.Unlock()
		return &Result{}, nil // before the last chunk
	}, nil); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= maxAnswered+100; i++ {
		sc.send(fmt.Sprintf(`[68, %d, 1, {"progress": true}, [1]]`, i))
		if _, err := sc.recvType(70); err != nil {
			t.Fatal(err)
		}
	}
	// A stream whose next chunk crossed the YIELD on the wire, then an
	// ordinary call, whose YIELD comes after anything the chunk caused.
	sc.send(`[68, 5000, 1, {"progress": true}, [1]]`)
	if _, err := sc.recvType(70); err != nil {
		t.Fatal(err)
	}
	sc.send(`[68, 5000, 1, {}, [2]]`)
	sc.send(`[68, 6000, 1, {}, [3]]`)
	for {
		m, err := sc.recvType(70)
		if err != nil {
			t.Fatal(err)
		}
		if id := m[1].(float64); id == 5000 {
			t.Fatal("a second YIELD for invocation 5000: its late chunk was taken for a new call")
		} else if id == 6000 {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if calls[5000] != 1 {
		t.Fatalf("the handler ran %d times for invocation 5000", calls[5000])
	}
}
