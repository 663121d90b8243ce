package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/junction-wamp/junction/router/attach"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// ConnectLocal joins realm on r in-process, with no socket: for components
// embedded in the router's binary and for fast tests. The session behaves
// as one over a connection: messages are encoded in the session's
// serialization (MessagePack unless opts say otherwise) and decoded on the
// other side, and the router's messages wait in a queue bounded by
// Options.LocalQueue: a session that does not keep up is a slow consumer
// like any other, so the router never waits for the application.
//
// Options.Reconnect attaches to r again after the session was lost (a
// router being shut down refuses until it is replaced, so a reconnecting
// local session is useful only with a router that stays up).
func ConnectLocal(ctx context.Context, r LocalRouter, realm string, opts *Options) (*Session, error) {
	s, err := newSession("local:", realm, opts, wamp.FormatMsgPack)
	if err != nil {
		return nil, err
	}
	s.connect = func(context.Context) (*link, error) {
		c := &localConn{codec: s.codec, maxIn: s.opts.maxMessage(), queueMax: s.opts.localQueue(), notify: make(chan struct{}, 1)}
		addr := s.opts.LocalRemoteAddr
		if addr == "" {
			addr = "in-process"
		}
		c.rs = r.AttachLocal(localPeer{c}, attach.TransportInfo{Kind: "local", Serializer: s.codec.Format().String(), RemoteAddr: addr})
		return &link{conn: c, fr: localFramer{c}, kind: "local"}, nil
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// LocalRouter is a router in this process that ConnectLocal joins: a
// *router.Router. The client knows it by this one method, so that a
// program that only dials out does not link the router (and its storage)
// because ConnectLocal exists.
type LocalRouter interface {
	AttachLocal(p attach.Peer, info attach.TransportInfo) attach.Session
}

const defaultLocalQueue = 4 << 20

func (o *Options) localQueue() int {
	if o.LocalQueue > 0 {
		return o.LocalQueue
	}
	return defaultLocalQueue
}

// localConn joins a Session to a router.Session in memory. The client's
// side writes length-prefixed frames, decoded and handed to the router's
// Receive on the writing goroutine; the router's side (attach.Peer) encodes
// each message onto a bounded queue that the client's reader takes from.
type localConn struct {
	codec    codec.Codec
	rs       attach.Session
	maxIn    int
	queueMax int

	wmu sync.Mutex // one Receive at a time, in order

	mu         sync.Mutex
	queue      [][]byte
	queued     int
	peerClosed bool // the router closed: EOF once the queue is read
	closed     bool // the client closed
	deadline   time.Time
	notify     chan struct{} // capacity 1: the queue, the state or the deadline changed
	detachOnce sync.Once
}

// localPeer is the router's side of a localConn.
type localPeer struct{ c *localConn }

// Send implements attach.Peer: it never blocks.
func (p localPeer) Send(m wamp.Message) error {
	c := p.c
	b, err := c.codec.Encode(nil, m)
	if err != nil {
		return err
	}
	if len(b) > c.maxIn {
		return attach.ErrTooLarge
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.peerClosed {
		return attach.ErrClosed
	}
	if c.queued > 0 && c.queued+len(b) > c.queueMax {
		return attach.ErrQueueFull
	}
	c.queue = append(c.queue, b)
	c.queued += len(b)
	c.signal()
	return nil
}

// Close implements attach.Peer: the client reads what is queued, then the
// end of the connection.
func (p localPeer) Close() {
	c := p.c
	c.mu.Lock()
	c.peerClosed = true
	c.signal()
	c.mu.Unlock()
}

// signal wakes the reader; mu is held.
func (c *localConn) signal() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// next returns the next message the router sent.
func (c *localConn) next() ([]byte, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		c.mu.Lock()
		switch {
		case c.closed:
			c.mu.Unlock()
			return nil, net.ErrClosed
		case len(c.queue) > 0:
			b := c.queue[0]
			c.queue[0] = nil
			c.queue = c.queue[1:]
			c.queued -= len(b)
			c.mu.Unlock()
			return b, nil
		case c.peerClosed:
			c.mu.Unlock()
			return nil, io.EOF
		}
		deadline := c.deadline
		c.mu.Unlock()
		var expire <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return nil, os.ErrDeadlineExceeded
			}
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			expire = timer.C
		}
		select {
		case <-c.notify:
		case <-expire:
		}
	}
}

// Write hands the client's frames to the router.
func (c *localConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return 0, net.ErrClosed
	}
	for rest := b; len(rest) > 0; {
		if len(rest) < 4 {
			return 0, errors.New("local connection: a truncated frame")
		}
		n := int(binary.BigEndian.Uint32(rest))
		if len(rest) < 4+n {
			return 0, errors.New("local connection: a truncated frame")
		}
		// The router may keep the payload (retained events): it gets a
		// copy, since the writer reuses its buffer.
		data := append([]byte(nil), rest[4:4+n]...)
		rest = rest[4+n:]
		m, err := c.codec.Decode(data)
		if invalid, ok := errors.AsType[*codec.RequestError](err); ok {
			c.rs.ReceiveInvalid(invalid) // refused with ERROR, as over a socket
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("local connection: %w", err)
		}
		c.rs.Receive(m)
	}
	return len(b), nil
}

// Close ends the connection from the client's side and detaches the
// router's session.
func (c *localConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.queue, c.queued = nil, 0
	c.signal()
	c.mu.Unlock()
	c.detachOnce.Do(c.rs.Detach)
	return nil
}

func (c *localConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *localConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.signal()
	c.mu.Unlock()
	return nil
}

func (c *localConn) SetWriteDeadline(time.Time) error { return nil }
func (c *localConn) Read([]byte) (int, error) {
	return 0, errors.New("local connection: read messages with next")
}
func (c *localConn) LocalAddr() net.Addr  { return localAddr{} }
func (c *localConn) RemoteAddr() net.Addr { return localAddr{} }

type localAddr struct{}

func (localAddr) Network() string { return "local" }
func (localAddr) String() string  { return "in-process" }

// localFramer is the client's side of a localConn: frames are a 4-byte
// length and the message.
type localFramer struct{ c *localConn }

func (localFramer) room() int { return 4 }

func (localFramer) seal(b []byte) int {
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return 0
}

func (f localFramer) next(func([]byte)) ([]byte, error) { return f.c.next() }

func (localFramer) closeFrame() []byte { return nil }
