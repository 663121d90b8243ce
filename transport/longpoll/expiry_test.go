package longpoll_test

import (
	"fmt"
	"net"
	"strings"
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

// TestLongPollReceiveWithBodyAbandoned: a receive whose request has a body
// (the specification's is empty; a client may send "{}") and whose client
// then hangs up is no longer held: it takes no message, and the next
// receive gets what came meanwhile. net/http notices a client leave only
// once the request's body has been read.
func TestLongPollReceiveWithBodyAbandoned(t *testing.T) {
	s := startLP(t, nil, func(c *longpoll.Config) { c.RequestTimeout = time.Hour })
	lp := s.open(t, "wamp.2.json")
	lp.join()
	lp.send(&wamp.Subscribe{Request: 1, Topic: "news", Options: wamp.Dict{}})
	if _, ok := lp.recv().(*wamp.Subscribed); !ok {
		t.Fatal("no SUBSCRIBED")
	}
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(lp.base, "http://"+s.addr)
	fmt.Fprintf(nc, "POST %s/receive HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", path)
	testwait.True(t, ioTimeout, "the receive to be held", func() bool { return s.lp.Stats().ReceivesHeld == 1 })
	nc.Close() // the client gives up
	testwait.True(t, ioTimeout, "the server to see the client go", func() bool { return s.lp.Stats().ReceivesHeld == 0 })
	if _, err := s.ws(t).Publish(t.Context(), "news", wamp.List{"kept"}, nil, wamp.Dict{"acknowledge": true}); err != nil {
		t.Fatal(err)
	}
	if a := args(lp.recv()); fmt.Sprint(a) != "[kept]" {
		t.Fatalf("the next receive got %v", a)
	}
	post(t, lp.c, lp.base+"/close", nil)
}
