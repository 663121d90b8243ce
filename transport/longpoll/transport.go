package longpoll

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// lpTransport is one long-poll transport: its session and the queue of
// what the router sent and no receive has taken yet.
type lpTransport struct {
	h     *Handler
	id    string
	addr  string
	proto protocol
	rs    *router.Session // set before the transport is in the Handler's map

	sendMu sync.Mutex // one send at a time: messages reach the router in order

	mu         sync.Mutex
	queue      [][]byte
	queued     int
	peerClosed bool // the router closed: receives drain the queue, then 410
	// ended is set once a GOODBYE or ABORT is queued, the session's last
	// message: nothing is queued after it (a message that raced it from
	// another session's goroutine is dropped as for a closed transport).
	ended      bool
	clientGone bool          // /close, an expiry or Handler.Close
	expired    bool          // counted in Stats.Expired (by either timeout, once)
	wake       chan struct{} // closed and replaced when the queue or the state changes
	receiver   uint64        // the newest receive; an older one held returns empty
	timer      *time.Timer   // SessionTimeout: expire
	hello      *time.Timer   // HelloTimeout: helloExpired
	inflight   int           // requests in progress
	last       time.Time     // when the last request ended
	detachOnce sync.Once
}

// peer is the router's side of an lpTransport.
type peer struct{ t *lpTransport }

// Send implements router.Peer: it encodes m onto the queue and never
// blocks.
func (p peer) Send(m wamp.Message) error {
	t := p.t
	b, err := t.proto.codec.Encode(nil, m)
	if err != nil {
		return err
	}
	if len(b) > t.h.cfg.MaxMessageSize {
		return router.ErrTooLarge
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.peerClosed || t.clientGone || t.ended {
		return router.ErrClosed
	}
	if t.queued > 0 && t.queued+len(b) > t.h.cfg.OutboundQueue {
		return router.ErrQueueFull
	}
	switch m.Type() {
	case wamp.TypeGoodbye, wamp.TypeAbort:
		t.ended = true
	}
	t.queue = append(t.queue, b)
	t.queued += len(b)
	t.signal()
	return nil
}

// Close implements router.Peer: receives get what is queued, then 410.
// The session is detached on a goroutine of its own (Close may be called
// with the router's locks held, and Detach calls into the router).
func (p peer) Close() {
	t := p.t
	t.mu.Lock()
	already := t.peerClosed
	t.peerClosed = true
	t.signal()
	t.mu.Unlock()
	if !already {
		go t.detach()
	}
}

// signal wakes the receives held; mu is held.
func (t *lpTransport) signal() {
	close(t.wake)
	t.wake = make(chan struct{})
}

func (t *lpTransport) detach() { t.detachOnce.Do(t.rs.Detach) }

// shut ends the transport: held receives return, the session leaves.
func (t *lpTransport) shut() {
	t.mu.Lock()
	t.clientGone = true
	t.queue, t.queued = nil, 0
	t.signal()
	t.timer.Stop()
	t.hello.Stop()
	t.mu.Unlock()
	t.detach()
}

// closeByClient marks a /close: a receive held answers 204, not 410.
func (t *lpTransport) closeByClient() {
	t.mu.Lock()
	t.clientGone = true
	t.signal()
	t.mu.Unlock()
}

// begin and end count the requests in progress: SessionTimeout runs from
// the end of the last one.
func (t *lpTransport) begin() {
	t.mu.Lock()
	t.inflight++
	t.mu.Unlock()
}

func (t *lpTransport) end() {
	t.mu.Lock()
	t.inflight--
	t.last = time.Now()
	t.mu.Unlock()
}

// expire runs SessionTimeout after the last check: it closes the transport
// if no request was in progress since, else it checks again when the
// timeout would next be due. A transport whose session had ended already
// (HelloTimeout, a GOODBYE, a kill) is taken out but not counted again as
// expired: its timeout closed no session.
func (t *lpTransport) expire() {
	timeout := t.h.cfg.SessionTimeout
	t.mu.Lock()
	idle := time.Since(t.last)
	switch {
	case t.clientGone:
		t.mu.Unlock()
		return
	case t.inflight > 0:
		t.timer.Reset(timeout)
		t.mu.Unlock()
		return
	case idle < timeout:
		t.timer.Reset(timeout - idle)
		t.mu.Unlock()
		return
	}
	count := !t.expired && !t.peerClosed
	t.expired = true
	t.mu.Unlock()
	if count {
		t.h.stats.Expired.Add(1)
		t.h.log.Debug("long-poll transport expired", "transport_addr", t.addr, "session_timeout", timeout)
	}
	t.h.remove(t)
}

// helloExpired closes a transport whose session has not joined in time.
func (t *lpTransport) helloExpired() {
	if t.rs.Established() {
		return
	}
	t.mu.Lock()
	count := !t.expired && !t.peerClosed && !t.clientGone
	t.expired = true
	t.mu.Unlock()
	if !count {
		return
	}
	t.h.stats.Expired.Add(1)
	t.rs.Fail(fmt.Sprintf("no HELLO within %s", t.h.cfg.HelloTimeout))
}

// receive answers with the next message (batched: every message pending),
// holding the request up to RequestTimeout while there is none.
func (t *lpTransport) receive(w http.ResponseWriter, r *http.Request) {
	// The specification's receive has an empty body; one that has a body
	// has it read (and ignored) first: net/http watches for the client
	// hanging up only once the body is read, and a receive held for a
	// client gone would take a message no one reads.
	if r.ContentLength != 0 {
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxOpenBody)); err != nil {
			t.h.bodyError(w, err)
			return
		}
	}
	timeout := t.h.cfg.RequestTimeout
	// The listener's write timeout counts from the request's start: lift
	// it past the time the request is held.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout + 30*time.Second))
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	t.mu.Lock()
	t.receiver++
	me := t.receiver
	t.signal() // an older receive held returns empty: this one replaces it
	for {
		switch {
		case t.receiver != me:
			t.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
			return
		case len(t.queue) > 0:
			body := t.take()
			t.mu.Unlock()
			w.Header().Set("Content-Type", t.proto.contentType())
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(body)
			return
		case t.clientGone:
			t.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
			return
		case t.peerClosed:
			t.mu.Unlock()
			httpError(w, http.StatusGone, "the router closed this transport")
			return
		}
		wake := t.wake
		t.mu.Unlock()
		t.h.stats.ReceivesHeld.Add(1)
		select {
		case <-wake:
			t.h.stats.ReceivesHeld.Add(-1)
		case <-ctx.Done():
			t.h.stats.ReceivesHeld.Add(-1)
			if r.Context().Err() == nil {
				t.h.stats.ReceivesTimedOut.Add(1)
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		t.mu.Lock()
	}
}

// take removes what a receive answers from the queue: one message, or in
// batched mode all of them; mu is held.
func (t *lpTransport) take() []byte {
	if !t.proto.batched {
		b := t.queue[0]
		t.queue[0] = nil
		t.queue = t.queue[1:]
		t.queued -= len(b)
		t.h.stats.MessagesDelivered.Add(1)
		return b
	}
	body := make([]byte, 0, t.queued+5*len(t.queue))
	for _, b := range t.queue {
		body = t.proto.appendFrame(body, b)
	}
	t.h.stats.MessagesDelivered.Add(int64(len(t.queue)))
	t.queue, t.queued = nil, 0
	return body
}

// send hands the request's message (or batch) to the router.
func (t *lpTransport) send(w http.ResponseWriter, r *http.Request) {
	limit := int64(t.h.cfg.MaxMessageSize)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		t.h.bodyError(w, err)
		return
	}
	msgs := [][]byte{body}
	if t.proto.batched {
		if msgs, err = t.proto.splitBatch(body); err != nil {
			t.h.stats.BadRequests.Add(1)
			httpError(w, http.StatusBadRequest, "send: "+err.Error())
			return
		}
	} else if len(body) == 0 {
		t.h.stats.BadRequests.Add(1)
		httpError(w, http.StatusBadRequest, "send: an empty body; a send carries one WAMP message")
		return
	}
	// Decode all before handing any to the router: a malformed request is
	// refused whole. Each message's raw payload aliases body, which is
	// this request's own and never reused.
	// A request whose options or payload only are not valid (a string
	// that is not UTF-8, an integer beyond 64 bits) is no malformed
	// message: its sender gets an ERROR for it, as on WebSocket
	// (router.Session.ReceiveInvalid).
	decoded := make([]wamp.Message, len(msgs))
	invalid := make([]*codec.RequestError, len(msgs))
	for i, b := range msgs {
		m, err := t.proto.codec.Decode(b)
		if re, ok := errors.AsType[*codec.RequestError](err); ok {
			m, invalid[i], err = re.Message, re, nil
		}
		if err != nil {
			t.h.stats.BadRequests.Add(1)
			httpError(w, http.StatusBadRequest, fmt.Sprintf("send: message %d does not decode as %s: %v", i+1, t.proto.name, err))
			return
		}
		decoded[i] = m
	}
	t.mu.Lock()
	gone := t.peerClosed || t.clientGone
	t.mu.Unlock()
	if gone {
		httpError(w, http.StatusGone, "this transport is closed")
		return
	}
	t.sendMu.Lock()
	for i, m := range decoded {
		if invalid[i] != nil {
			t.rs.ReceiveInvalid(invalid[i])
			continue
		}
		t.rs.Receive(m)
	}
	t.sendMu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
