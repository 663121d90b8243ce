// Package attach is how a connection attaches to a router: the Peer the
// router sends through, what the transport knows of the connection
// (TransportInfo), and the errors of Send. Package router takes these
// under the same names (router.Peer, router.TransportInfo, ...); they live
// here, in a package that imports neither the router nor its storage, so
// that a client joining a router in its own process (client.ConnectLocal)
// does not link the router into every client program.
package attach

import (
	"crypto/tls"
	"errors"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// Peer is the router's view of one client connection. Transports implement
// it; the router knows nothing else of I/O.
type Peer interface {
	// Send queues m for the client and never blocks. It fails with
	// ErrQueueFull when the connection's outbound queue is at its limit
	// (m is not queued), ErrTooLarge when m encodes to more than the client
	// accepts, ErrClosed once the connection is closing, or an encoding error
	// when m's payload cannot be converted to the client's serializer.
	// Send must not call back into the router, and it must encode (or copy)
	// m before it returns: the router may reuse m and its raw payload
	// afterwards.
	Send(m wamp.Message) error
	// Close ends the connection once what is queued has been written (or a
	// short grace period has passed). It may be called more than once and
	// from any goroutine.
	Close()
}

// Errors a Peer's Send returns.
var (
	ErrQueueFull = errors.New("outbound queue full")
	ErrTooLarge  = errors.New("message larger than the peer accepts")
	ErrClosed    = errors.New("connection closed")
)

// TransportInfo describes the connection a session arrived on; it shows in
// the session's details and in logs.
type TransportInfo struct {
	Kind       string // "websocket", "rawsocket", "longpoll" or "local"
	Serializer string // "json", "msgpack" or "cbor"
	RemoteAddr string
	TLS        bool
	// CookieIssued says that the WebSocket upgrade set Cookie on this
	// connection (the client sent none, or one this router did not make):
	// only then may a login be remembered under it.
	CookieIssued bool
	// TLSState is the TLS connection's state, nil without TLS: the client
	// certificate and the channel bindings authentication uses.
	TLSState *tls.ConnectionState
	// Cookie is the value of the authentication cookie of a WebSocket
	// connection (sent by the client or set by the upgrade); "" when
	// cookies are off.
	Cookie string
	// Loop numbers the goroutine that delivers the connection's messages
	// (the epoll engine's event loop): the router keeps its message counts
	// per loop, so that loops on different cores count in different cache
	// lines. Connections read by different goroutines at once should have
	// different numbers; any number is correct.
	Loop int
}

// Session is the router's side of an attached connection, as far as a
// connection that only feeds it messages needs it: an in-process client.
// The connection passes every message it decodes to Receive, in order
// (one that decoded only far enough to be answered with an ERROR to
// ReceiveInvalid), and calls Detach once it is gone.
type Session interface {
	Receive(m wamp.Message)
	ReceiveInvalid(e *codec.RequestError)
	Detach()
}
