package client

import (
	"errors"
	"testing"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// TestLocalQueueBound checks the router's side of an in-process connection:
// Send never blocks, refuses what does not fit the queue (an empty queue
// takes one message of any size), what is larger than the client accepts,
// and anything once closed; the client reads what was queued, then EOF.
func TestLocalQueueBound(t *testing.T) {
	c := &localConn{codec: codec.MsgPack, maxIn: 1 << 20, queueMax: 1000, notify: make(chan struct{}, 1)}
	p := localPeer{c}
	big := &wamp.Event{Subscription: 1, Publication: 2, Payload: wamp.Payload{Args: wamp.List{string(make([]byte, 1500))}}}
	if err := p.Send(big); err != nil {
		t.Fatalf("an empty queue refused a message: %v", err)
	}
	small := &wamp.Event{Subscription: 1, Publication: 3}
	if err := p.Send(small); !errors.Is(err, router.ErrQueueFull) {
		t.Errorf("send to a full queue: %v, want ErrQueueFull", err)
	}
	huge := &wamp.Event{Subscription: 1, Publication: 2, Payload: wamp.Payload{Args: wamp.List{string(make([]byte, 2<<20))}}}
	if err := p.Send(huge); !errors.Is(err, router.ErrTooLarge) {
		t.Errorf("send of a message larger than the client accepts: %v", err)
	}
	if _, err := c.next(); err != nil {
		t.Fatal(err)
	}
	if err := p.Send(small); err != nil {
		t.Errorf("send once the queue drained: %v", err)
	}
	p.Close()
	if err := p.Send(small); !errors.Is(err, router.ErrClosed) {
		t.Errorf("send after Close: %v", err)
	}
	b, err := c.next()
	if err != nil {
		t.Fatal(err)
	}
	if m, err := codec.MsgPack.Decode(b); err != nil || m.(*wamp.Event).Publication != 3 {
		t.Errorf("queued message: %v %v", m, err)
	}
	if _, err := c.next(); err == nil {
		t.Error("no end of connection after the router closed it")
	}
}
