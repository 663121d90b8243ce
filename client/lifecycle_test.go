package client

import (
	"context"
	"testing"
	"time"
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
