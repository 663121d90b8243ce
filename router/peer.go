package router

import (
	"crypto/tls"
	"errors"

	"github.com/junction-wamp/junction/wamp"
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

// connInfo is what a session keeps of its TransportInfo for as long as it
// lives; the rest, which only authentication reads, is kept only for the
// connections that have it (Session.handshake), to keep an idle session
// small.
type connInfo struct {
	Kind, Serializer, RemoteAddr string
}

// TransportInfo describes the connection a session arrived on; it shows in
// the session's details and in logs.
type TransportInfo struct {
	Kind       string // "websocket" or "rawsocket"
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
