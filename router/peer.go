package router

import "github.com/junction-wamp/junction/router/attach"

// Peer is the router's view of one client connection (attach.Peer).
type Peer = attach.Peer

// Errors a Peer's Send returns.
var (
	ErrQueueFull = attach.ErrQueueFull
	ErrTooLarge  = attach.ErrTooLarge
	ErrClosed    = attach.ErrClosed
)

// connInfo is what a session keeps of its TransportInfo for as long as it
// lives; the rest, which only authentication reads, is kept only for the
// connections that have it (Session.handshake), to keep an idle session
// small.
type connInfo struct {
	Kind, Serializer, RemoteAddr string
}

// TransportInfo describes the connection a session arrived on
// (attach.TransportInfo).
type TransportInfo = attach.TransportInfo
