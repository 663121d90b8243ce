// Package longpoll serves the WAMP long-poll transport (the specification's
// transport_http_longpoll): a WAMP session over plain HTTP POST requests,
// for clients that cannot hold a WebSocket.
//
// A client POSTs {"protocols": [...]} to <base>/open and gets a transport
// id and the chosen protocol; it then POSTs its messages to
// <base>/<id>/send, holds a POST to <base>/<id>/receive that is answered
// with the router's next message (or, batched, every message pending), and
// ends with <base>/<id>/close. The Handler is an http.Handler to mount at
// <base>/ on a listener's mux (transport.Server.Handler).
//
// Each transport is a router session like a WebSocket's (router.Attach):
// the router's messages wait in a queue bounded like a connection's
// outbound queue, so a client that does not poll is a slow consumer like
// any other; a receive is held at most RequestTimeout and then answered
// empty; a transport that sees no request for SessionTimeout is closed and
// its session leaves (testaments, on_leave).
//
// Statuses: 200 with a message (or a batch), 204 for a receive that timed
// out, an accepted send and a close (the specification says 202 "no
// content"; Autobahn|JS, the reference client, takes only 200 and 204 as
// success), 400 for a malformed body or message, 403 for a refused origin
// or a transport id used from another address, 404 for an unknown path or
// transport id, 405 for another method than POST (OPTIONS answers CORS
// preflights), 410 for a transport the router closed once its messages
// are read, 413 for a body over the limit, 429 for an address over its
// transports at once, 503 when the Handler is full or closed.
package longpoll

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport/websocket"
)

// Defaults for Config's zero fields.
const (
	DefaultPath           = "/lp"
	DefaultRequestTimeout = 10 * time.Second
	DefaultSessionTimeout = 30 * time.Second
	DefaultHelloTimeout   = 10 * time.Second
	DefaultMaxMessageSize = 1 << 20
	DefaultOutboundQueue  = 4 << 20
	DefaultMaxPerAddress  = 32
	DefaultMaxTransports  = 10_000
)

// maxOpenBody bounds an /open request's body, {"protocols": [...]}, and
// the body of a receive, read and ignored.
const maxOpenBody = 4 << 10

// Config configures a Handler. Zero fields take the defaults named on each.
type Config struct {
	// Router is the router sessions join. Required.
	Router *router.Router
	// Path is the base path the Handler is mounted under (at Path+"/");
	// default "/lp".
	Path string
	// AllowedOrigins are the browser origins allowed, as a listener's
	// allowed_origins (websocket.NewOriginPolicy): empty allows any. A
	// request with a refused Origin gets 403; allowed cross-origin
	// requests get the CORS headers, credentials (cookies) included.
	AllowedOrigins []string
	// Cookie, when set, is the listener's authentication cookie: /open
	// reads it or sets a new one, as a WebSocket upgrade does, and the
	// session gets it (router.TransportInfo.Cookie). A refused /open
	// (429, 503) sets none.
	Cookie *websocket.Cookie
	// TLS says the listener serves TLS (the sessions' TransportInfo.TLS;
	// the TLS state itself comes from each request).
	TLS bool
	// MaxMessageSize bounds a message in each direction and the body of a
	// send (a whole batch); default 1 MiB.
	MaxMessageSize int
	// OutboundQueue bounds the bytes queued for a transport and not yet
	// received, as a connection's outbound queue; default 4 MiB.
	OutboundQueue int
	// RequestTimeout is how long a receive is held when nothing is
	// pending before it is answered empty (204); default 10s. Keep it
	// under the client's own request timeout (12s in Autobahn|JS).
	RequestTimeout time.Duration
	// SessionTimeout closes a transport that has had no request in
	// progress for this long; its session leaves; default 30s.
	SessionTimeout time.Duration
	// HelloTimeout closes a transport whose session has not joined a
	// realm this long after /open; default 10s.
	HelloTimeout time.Duration
	// MaxPerAddress bounds the transports open at once from one client
	// address; /open beyond it gets 429; default 32.
	MaxPerAddress int
	// MaxTransports bounds the transports open at once; /open beyond it
	// gets 503; default 10,000.
	MaxTransports int
	// AllowAddressChange lets a transport be used from another address
	// than the one that opened it. Off by default: the transport id is
	// the only credential of a long-poll session, and a request for it
	// from elsewhere is refused (403), so a leaked id (a log, a proxy) is
	// not enough to take the session over. Turn it on for clients whose
	// address changes between requests (several egress proxies).
	AllowAddressChange bool
	// Logger receives the handler's logs; nil discards them.
	Logger *slog.Logger
}

// Stats are what the Handler did, a snapshot taken by Handler.Stats (the
// same convention as router.Router.Stats and transport.Server.Stats).
type Stats struct {
	Open              int64 // transports open now
	Opened            int64 // transports opened in all
	RefusedAddress    int64 // /open refused: the address had MaxPerAddress
	RefusedFull       int64 // /open refused: MaxTransports reached
	RefusedMoved      int64 // requests refused: from another address than the transport's
	Expired           int64 // transports whose session SessionTimeout or HelloTimeout ended (once each)
	BadRequests       int64 // requests answered 400 or 413
	ReceivesHeld      int64 // receives held now, waiting for a message
	ReceivesTimedOut  int64 // receives answered empty after RequestTimeout
	MessagesDelivered int64 // messages answered to receives
}

// counters are the live counters behind Stats, counted where the work
// happens.
type counters struct {
	Open, Opened                              atomic.Int64
	RefusedAddress, RefusedFull, RefusedMoved atomic.Int64
	Expired, BadRequests                      atomic.Int64
	ReceivesHeld, ReceivesTimedOut            atomic.Int64
	MessagesDelivered                         atomic.Int64
}

// Handler serves the long-poll transport. Mount it at Config.Path+"/": it
// answers <Path>/open and <Path>/<id>/receive, send and close, and 404
// elsewhere.
type Handler struct {
	cfg     Config
	origins *websocket.OriginPolicy
	log     *slog.Logger
	stats   counters

	mu         sync.Mutex
	closed     bool
	transports map[string]*lpTransport
	perAddr    map[string]int
}

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Router == nil {
		return nil, errors.New("longpoll: Config.Router is nil")
	}
	for name, v := range map[string]int64{
		"MaxMessageSize": int64(cfg.MaxMessageSize), "OutboundQueue": int64(cfg.OutboundQueue),
		"RequestTimeout": int64(cfg.RequestTimeout), "SessionTimeout": int64(cfg.SessionTimeout),
		"HelloTimeout": int64(cfg.HelloTimeout), "MaxPerAddress": int64(cfg.MaxPerAddress),
		"MaxTransports": int64(cfg.MaxTransports),
	} {
		if v < 0 {
			return nil, fmt.Errorf("longpoll: Config.%s is negative", name)
		}
	}
	cfg.Path = cmp.Or(cfg.Path, DefaultPath)
	if !strings.HasPrefix(cfg.Path, "/") || strings.HasSuffix(cfg.Path, "/") {
		return nil, fmt.Errorf("longpoll: Config.Path %q must start with / and not end with it", cfg.Path)
	}
	origins, err := websocket.NewOriginPolicy(cfg.AllowedOrigins)
	if err != nil {
		return nil, fmt.Errorf("longpoll: %w", err)
	}
	cfg.MaxMessageSize = cmp.Or(cfg.MaxMessageSize, DefaultMaxMessageSize)
	cfg.OutboundQueue = cmp.Or(cfg.OutboundQueue, DefaultOutboundQueue)
	cfg.RequestTimeout = cmp.Or(cfg.RequestTimeout, DefaultRequestTimeout)
	cfg.SessionTimeout = cmp.Or(cfg.SessionTimeout, DefaultSessionTimeout)
	cfg.HelloTimeout = cmp.Or(cfg.HelloTimeout, DefaultHelloTimeout)
	cfg.MaxPerAddress = cmp.Or(cfg.MaxPerAddress, DefaultMaxPerAddress)
	cfg.MaxTransports = cmp.Or(cfg.MaxTransports, DefaultMaxTransports)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, origins: origins, log: log,
		transports: make(map[string]*lpTransport), perAddr: make(map[string]int)}, nil
}

// Stats returns a snapshot of the Handler's counters.
func (h *Handler) Stats() Stats {
	c := &h.stats
	return Stats{
		Open: c.Open.Load(), Opened: c.Opened.Load(),
		RefusedAddress: c.RefusedAddress.Load(), RefusedFull: c.RefusedFull.Load(), RefusedMoved: c.RefusedMoved.Load(),
		Expired: c.Expired.Load(), BadRequests: c.BadRequests.Load(),
		ReceivesHeld: c.ReceivesHeld.Load(), ReceivesTimedOut: c.ReceivesTimedOut.Load(),
		MessagesDelivered: c.MessagesDelivered.Load(),
	}
}

// Close closes every transport (their sessions leave) and refuses new
// ones with 503. Call it once the router and the listener have shut down.
func (h *Handler) Close() {
	h.mu.Lock()
	h.closed = true
	all := make([]*lpTransport, 0, len(h.transports))
	for _, t := range h.transports {
		all = append(all, t)
	}
	h.mu.Unlock()
	for _, t := range all {
		h.remove(t)
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" {
		if !h.origins.Allow(origin) {
			httpError(w, http.StatusForbidden, fmt.Sprintf("origin %q is not allowed", origin))
			return
		}
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Set("Access-Control-Allow-Credentials", "true")
		hd.Add("Vary", "Origin")
	}
	if r.Method == http.MethodOptions {
		// A CORS preflight (Autobahn|JS sends Content-Type
		// application/json, which needs one).
		hd := w.Header()
		hd.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			hd.Set("Access-Control-Allow-Headers", req)
		}
		hd.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		httpError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed: the long-poll transport takes POST")
		return
	}
	// <base>/open or <base>/<id>/<action>
	rest, ok := strings.CutPrefix(r.URL.Path, h.cfg.Path+"/")
	if rest == "open" {
		h.open(w, r)
		return
	}
	id, action, two := strings.Cut(rest, "/")
	if !ok || !two || id == "" || strings.Contains(action, "/") {
		httpError(w, http.StatusNotFound, "no long-poll endpoint at "+r.URL.Path+": the endpoints are "+
			h.cfg.Path+"/open and "+h.cfg.Path+"/<transport>/receive, send and close")
		return
	}
	switch action {
	case "receive", "send", "close":
	default:
		httpError(w, http.StatusNotFound, "no long-poll endpoint at "+r.URL.Path+": a transport has receive, send and close")
		return
	}
	t := h.lookup(id)
	if t == nil {
		httpError(w, http.StatusNotFound, "no long-poll transport "+strconv.Quote(id)+" (closed, expired or never opened)")
		return
	}
	if !h.cfg.AllowAddressChange && addressOf(r) != t.addr {
		h.stats.RefusedMoved.Add(1)
		h.log.Info("long-poll request from another address than the transport's refused", "remote", r.RemoteAddr, "transport_addr", t.addr)
		httpError(w, http.StatusForbidden, "this transport was opened from another address")
		return
	}
	t.begin()
	defer t.end()
	switch action {
	case "receive":
		t.receive(w, r)
	case "send":
		t.send(w, r)
	case "close":
		t.closeByClient()
		h.remove(t)
		w.WriteHeader(http.StatusNoContent)
	}
}

// open handles <base>/open.
func (h *Handler) open(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOpenBody))
	if err != nil {
		h.bodyError(w, err)
		return
	}
	var req struct {
		Protocols []string `json:"protocols"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		h.stats.BadRequests.Add(1)
		httpError(w, http.StatusBadRequest, "open: the body is not {\"protocols\": [...]}: "+err.Error())
		return
	}
	var proto protocol
	found := false
	for _, name := range req.Protocols {
		if proto, found = protocolNamed(name); found {
			break
		}
	}
	if !found {
		h.stats.BadRequests.Add(1)
		names := make([]string, len(protocols))
		for i, p := range protocols {
			names[i] = p.name
		}
		httpError(w, http.StatusBadRequest, fmt.Sprintf("open: no protocol in common: offered %q, served %q", req.Protocols, names))
		return
	}

	info := router.TransportInfo{Kind: "longpoll", Serializer: proto.codec.Format().String(),
		RemoteAddr: r.RemoteAddr, TLS: h.cfg.TLS, TLSState: r.TLS}
	if c := h.cfg.Cookie; c != nil {
		if k, err := r.Cookie(c.Name); err == nil && c.Signer.Valid(k.Value) {
			info.Cookie = k.Value
		} else {
			info.Cookie, info.CookieIssued = c.Signer.New(), true
		}
	}

	addr := addressOf(r)
	id := newID()
	t := &lpTransport{h: h, id: id, addr: addr, proto: proto, wake: make(chan struct{}), last: time.Now()}
	h.mu.Lock()
	switch {
	case h.closed:
		h.mu.Unlock()
		httpError(w, http.StatusServiceUnavailable, "the router is shutting down")
		return
	case len(h.transports) >= h.cfg.MaxTransports:
		h.mu.Unlock()
		h.stats.RefusedFull.Add(1)
		w.Header().Set("Retry-After", "5")
		httpError(w, http.StatusServiceUnavailable, "too many long-poll transports open")
		return
	case h.perAddr[addr] >= h.cfg.MaxPerAddress:
		h.mu.Unlock()
		h.stats.RefusedAddress.Add(1)
		h.log.Info("long-poll open refused: too many transports from one address", "remote", r.RemoteAddr, "limit", h.cfg.MaxPerAddress)
		w.Header().Set("Retry-After", strconv.Itoa(int(h.cfg.SessionTimeout/time.Second)))
		httpError(w, http.StatusTooManyRequests, fmt.Sprintf("this address has %d long-poll transports open already", h.cfg.MaxPerAddress))
		return
	}
	h.transports[id] = t
	h.perAddr[addr]++
	// Attach under mu: a transport is in the map only with its session,
	// and Close, which takes mu first, sees every session attached.
	t.rs = h.cfg.Router.Attach(peer{t}, info)
	// The timers are set under t.mu, and before Close (which takes h.mu
	// first) can shut the transport; their functions read them under t.mu.
	t.mu.Lock()
	t.timer = time.AfterFunc(h.cfg.SessionTimeout, t.expire)
	t.hello = time.AfterFunc(h.cfg.HelloTimeout, t.helloExpired)
	t.mu.Unlock()
	h.mu.Unlock()
	h.stats.Open.Add(1)
	h.stats.Opened.Add(1)

	// The cookie goes out with the transport only: an open refused above
	// (for load, or shutting down) hands out nothing.
	if info.CookieIssued {
		w.Header().Add("Set-Cookie", h.cfg.Cookie.Name+"="+info.Cookie+h.cfg.Cookie.Attributes)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"protocol": proto.name, "transport": id})
}

func (h *Handler) lookup(id string) *lpTransport {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.transports[id]
}

// remove takes t out of the Handler and ends its session; idempotent.
func (h *Handler) remove(t *lpTransport) {
	h.mu.Lock()
	if h.transports[t.id] != t {
		h.mu.Unlock()
		return
	}
	delete(h.transports, t.id)
	if h.perAddr[t.addr]--; h.perAddr[t.addr] <= 0 {
		delete(h.perAddr, t.addr)
	}
	h.mu.Unlock()
	h.stats.Open.Add(-1)
	t.shut()
}

// bodyError answers a failed body read: 413 over the limit (the lower of
// the handler's and the listener's), else 400.
func (h *Handler) bodyError(w http.ResponseWriter, err error) {
	h.stats.BadRequests.Add(1)
	if e, ok := errors.AsType[*http.MaxBytesError](err); ok {
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d bytes", e.Limit))
		return
	}
	httpError(w, http.StatusBadRequest, "reading the body: "+err.Error())
}

// httpError answers status with a one-line text body.
func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// addressOf is the client's address without its port (each request may
// come on another connection).
func addressOf(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// newID returns a transport id: 128 random bits, base64url.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}
