package longpoll_test

import (
	"testing"
	"time"

	"github.com/junction-wamp/junction/internal/testwait"
	"github.com/junction-wamp/junction/transport/longpoll"
	"github.com/junction-wamp/junction/wamp"
)

// TestLongPollExpiredCountedOnce: a transport opened and abandoned before
// its HELLO is aborted by HelloTimeout and later taken out by
// SessionTimeout; it is one transport expired, not two. A session that
// ended with GOODBYE and whose client never sent /close is taken out too,
// but no timeout ended it: not expired.
func TestLongPollExpiredCountedOnce(t *testing.T) {
	t.Run("hello timeout", func(t *testing.T) {
		s := startLP(t, nil, func(c *longpoll.Config) {
			c.HelloTimeout = 20 * time.Millisecond
			c.SessionTimeout = 100 * time.Millisecond
		})
		s.open(t, "wamp.2.json") // never joins
		testwait.True(t, ioTimeout, "the abandoned transport to be taken out", func() bool { return s.lp.Stats().Open == 0 })
		if n := s.lp.Stats().Expired; n != 1 {
			t.Errorf("Expired %d, want 1", n)
		}
	})
	t.Run("goodbye", func(t *testing.T) {
		s := startLP(t, nil, func(c *longpoll.Config) { c.SessionTimeout = 100 * time.Millisecond })
		lp := s.open(t, "wamp.2.json")
		lp.join()
		lp.send(&wamp.Goodbye{Details: wamp.Dict{}, Reason: wamp.CloseNormal})
		if _, ok := lp.recv().(*wamp.Goodbye); !ok {
			t.Fatal("no GOODBYE")
		}
		testwait.True(t, ioTimeout, "the abandoned transport to be taken out", func() bool { return s.lp.Stats().Open == 0 })
		if n := s.lp.Stats().Expired; n != 0 {
			t.Errorf("Expired %d, want 0", n)
		}
	})
}
