package client

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"

	"github.com/junction-wamp/junction/wamp"
)

// Options configures a Session. The zero value (or nil) is usable: JSON
// (MessagePack for ConnectLocal), anonymous, 16 MiB messages, no
// reconnecting, no logging.
type Options struct {
	// Serializer is wamp.FormatJSON (the default), wamp.FormatMsgPack or
	// wamp.FormatCBOR.
	Serializer wamp.Format

	// TLSConfig is used for wss:// and rss:// URLs; nil means the system
	// roots and the URL's host name.
	TLSConfig *tls.Config
	// Dialer opens the TCP or Unix connection; set its LocalAddr to choose
	// the source address, its Timeout to bound the connect. nil uses a zero
	// net.Dialer.
	Dialer *net.Dialer

	// CookieJar keeps the cookies of WebSocket connections (ws:// and
	// wss:// URLs), as an http.Client's Jar does: every connect, reconnects
	// included, sends the cookies it holds for the URL in the upgrade
	// request, and the Set-Cookie headers of the upgrade response go into
	// it. The jar knows ws:// URLs as http:// and wss:// as https:// (so
	// that a Secure cookie travels over wss:// only). A net/http/cookiejar
	// Jar fits, and so does one jar shared by several sessions. The router's
	// authentication cookie is what the Cookie credential logs in with.
	// nil: no cookies are sent or kept.
	CookieJar http.CookieJar

	// AuthID is announced in HELLO.Details.authid.
	AuthID string
	// Agent is announced in HELLO.Details.agent; "" means "junction-client".
	Agent string
	// Credentials are the authentication methods the client offers, in
	// order of preference: Cookie, Ticket, WAMPCRA, SCRAM, Cryptosign,
	// TLSCertificate. Their methods are announced in
	// HELLO.Details.authmethods (unless AuthMethods is set) and each
	// answers the router's CHALLENGE for its method.
	Credentials []Credential
	// AuthMethods, when set, are announced in HELLO.Details.authmethods
	// instead of the Credentials' methods.
	AuthMethods []string
	// HelloDetails are added to HELLO.Details (they do not replace roles,
	// agent, authid or authmethods).
	HelloDetails wamp.Dict
	// Authenticate, when set, answers every CHALLENGE instead of the
	// Credentials: for an authentication method this package does not
	// implement. A router that challenges a client that has neither is
	// refused.
	Authenticate func(ctx context.Context, c *wamp.Challenge) (*wamp.Authenticate, error)

	// MaxMessageSize is the largest message the client accepts from the
	// router, in bytes; 0 means 16 MiB. RawSocket announces it rounded up to
	// a power of two between 512 bytes and 16 MiB.
	MaxMessageSize int
	// MaxPendingBytes bounds the bytes queued for writing: beyond it senders
	// wait for the connection to drain (or for their context). 0 means 4 MiB.
	MaxPendingBytes int
	// ReadBufferSize is the size of the connection's read buffer; 0 means
	// 4 KiB. Sessions that stay idle can use less.
	ReadBufferSize int

	// Reconnect, when set, makes the session connect again when its
	// connection is lost, and restore its subscriptions and registrations;
	// see Reconnect. nil: a lost connection ends the session.
	Reconnect *Reconnect

	// CancelMode is the mode of the CANCEL sent when a call's context ends
	// before its result: CancelKill (the default), CancelKillNoWait or
	// CancelSkip.
	CancelMode string

	// EventQueue bounds the events that may wait for each Subscription's
	// handler; 0 means DefaultEventQueue. An event that arrives when its
	// subscription's queue is full is dropped (the events already queued
	// are kept, in order): the reading goroutine never waits for a handler,
	// so a slow handler holds up neither the session's other traffic nor
	// other subscriptions. Subscription.Dropped counts the drops.
	EventQueue int
	// OnEventDropped, when set, is told of each event dropped because its
	// subscription's queue was full. It runs on the reading goroutine: it
	// must return quickly and not wait for the session (count, log, or
	// signal a channel without blocking).
	OnEventDropped func(sub *Subscription, publication wamp.ID)

	// PayloadPassthru announces payload passthru mode in every role, so
	// that the session may call, publish and answer with a Passthru and
	// receives invocations, events and results sent with one (their
	// Details carry the ppt_* entries; PassthruOf reads them). Without it
	// the router does not route such messages to the session, and the
	// session refuses to send them.
	PayloadPassthru bool

	// LocalQueue bounds the bytes the router may queue for a session of
	// ConnectLocal that the application does not read fast enough, as
	// transport.Server.OutboundQueue does for a connection; 0 means 4 MiB.
	LocalQueue int
	// LocalRemoteAddr is the remote address the router knows a session of
	// ConnectLocal by ("in-process" when empty): a component that acts
	// for a remote client (the HTTP bridge) names that client's address,
	// so that the realm's authentication throttle, the logs and the
	// session's meta details see it rather than one address for all.
	LocalRemoteAddr string

	// Logger receives the session's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultEventQueue is the events that may wait for a subscription's
// handler when Options.EventQueue is 0.
const DefaultEventQueue = 1024

const (
	defaultMaxMessage = 16 << 20
	defaultMaxPending = 4 << 20
	defaultReadBuffer = 4 << 10
	defaultAgent      = "junction-client"
)

func (o *Options) maxMessage() int {
	if o.MaxMessageSize > 0 {
		return o.MaxMessageSize
	}
	return defaultMaxMessage
}

func (o *Options) maxPending() int {
	if o.MaxPendingBytes > 0 {
		return o.MaxPendingBytes
	}
	return defaultMaxPending
}

func (o *Options) readBuffer() int {
	if o.ReadBufferSize > 0 {
		return o.ReadBufferSize
	}
	return defaultReadBuffer
}

func (o *Options) eventQueue() int {
	if o.EventQueue > 0 {
		return o.EventQueue
	}
	return DefaultEventQueue
}

func (o *Options) dialer() *net.Dialer {
	if o.Dialer != nil {
		return o.Dialer
	}
	return &net.Dialer{}
}
