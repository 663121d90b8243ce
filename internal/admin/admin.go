// Package admin serves what an operator looks at: the health endpoints
// (/healthz, /readyz), Prometheus metrics (/metrics) and the live web view
// (/ and its JSON and Server-Sent Events API under /api/), behind HTTP
// basic auth and bearer tokens when they are configured.
//
// The web view is a page served from the binary (embed.FS: no CDN, no
// third-party script) that reads /api/events, a stream of snapshots of the
// router (one a second), and draws them: sessions per realm, message rates
// by type, subscriptions and registrations with their subscriber and callee
// counts, slow consumers and dropped events, and the sessions, which it can
// look up and, for an admin, kill (POST /api/kill).
//
// Who may do what: without Access, anyone who reaches the endpoints may
// look and nobody may act; with it, /metrics, the page and the API need a
// user (basic auth) or a token (bearer), and killing a session needs one
// marked admin. Wrong credentials get 401 and slow down later attempts
// from the same address, as WAMP logins do (auth.Throttle); their hashes
// wait their turn in the router's password limiter (auth.KDFLimiter) with
// the tickets of WAMP logins, and an address with too many in flight gets
// 429 without a hash. Without Access, only requests for an IP address or
// localhost (their Host) are answered, unless Config.AnyHost: a page of a
// site whose name is pointed at a loopback address (DNS rebinding) would
// otherwise read the endpoints as its own. No page of another site may
// frame the web view (clickjacking the kill button), and a kill takes
// JSON from the page's own origin only (no cross-site request forgery).
// /healthz and /readyz answer anyone: load balancers
// and Kubernetes probes do not log in, and they say nothing but ok. Where the endpoints are served, and
// whether an unprotected one may face the network, is the server
// command's business (config's admin section).
package admin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
)

// Config configures the admin endpoints.
type Config struct {
	// Router is the router shown; required.
	Router *router.Router
	// Servers are its listeners' transport servers, for the connection
	// counts.
	Servers []*transport.Server
	// Metrics serves /metrics; nil serves no metrics.
	Metrics http.Handler
	// WebView serves the web view at / and its API under /api/.
	WebView bool
	// Access, when set, asks for credentials (see the package
	// documentation); nil lets anyone look and nobody act.
	Access *Access
	// Ready reports whether the router is ready for traffic (/readyz):
	// nil when it is, else why not. Nil means always ready.
	Ready func() error
	// AnyHost lets requests name any host without Access. Else, without
	// Access, only requests for an IP address or localhost (Host) may see
	// more than /healthz and /readyz: a name of the attacker's pointed at
	// a loopback address (DNS rebinding) would otherwise let a page of
	// theirs read the endpoints as its own. Set it when a proxy in front
	// checks who may see them, and passes the names people use.
	AnyHost bool
	// WebSocketPath is where WAMP clients connect, for the hint of a 404.
	WebSocketPath string
	// Version is shown on the page.
	Version string
	// Logger receives what the endpoints log (kills, failed logins); nil
	// discards.
	Logger *slog.Logger
}

// Handler serves the admin endpoints; see the package documentation.
type Handler struct {
	cfg     Config
	log     *slog.Logger
	auth    *authenticator // nil without Access
	mux     *http.ServeMux
	started time.Time
	snaps   snapshotCache
	// crossOrigin refuses a kill a browser sent for a page of another
	// origin: by its Sec-Fetch-Site header, which every current browser
	// sends, and, from one that does not, by its Origin against its Host.
	// Comparing Origin and Host alone refused the page's own kills behind
	// a reverse proxy that rewrites Host (nginx does by default, to the
	// router's address), the page's origin being the proxy's public name.
	crossOrigin *http.CrossOriginProtection
	streams     atomic.Int64 // live streams open (/api/events)
}

// New returns the Handler of cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Router == nil {
		return nil, errors.New("admin: Config.Router is nil")
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), started: time.Now(), crossOrigin: http.NewCrossOriginProtection()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if a := cfg.Access; a != nil {
		if len(a.Users) == 0 && len(a.Tokens) == 0 {
			return nil, errors.New("admin: Access has no users and no tokens: nobody could log in")
		}
		h.auth = newAuthenticator(a, cfg.Router.PasswordLimiter())
	}
	h.mux.HandleFunc("GET /healthz", h.healthz)
	h.mux.HandleFunc("GET /readyz", h.readyz)
	if cfg.Metrics != nil {
		h.mux.Handle("GET /metrics", h.viewer(cfg.Metrics.ServeHTTP))
	}
	if cfg.WebView {
		static, _ := fs.Sub(webFiles, "web")
		files := http.FileServerFS(static)
		h.mux.Handle("GET /{$}", h.viewer(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			files.ServeHTTP(w, r)
		}))
		for _, name := range []string{"app.js", "style.css"} {
			h.mux.Handle("GET /"+name, h.viewer(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "no-cache")
				files.ServeHTTP(w, r)
			}))
		}
		h.mux.Handle("GET /api/snapshot", h.viewer(h.snapshot))
		h.mux.Handle("GET /api/events", h.viewer(h.events))
		h.mux.Handle("POST /api/kill", h.viewer(h.kill))
	}
	h.mux.HandleFunc("/", h.notFound)
	return h, nil
}

// contentSecurityPolicy lets the page load its own script, style sheet
// and stream and nothing else, and no page frame it: a page of another
// site that showed the web view in a frame could trick an admin into
// clicking Kill twice (clickjacking). X-Frame-Options says the same to
// browsers that know no frame-ancestors.
const contentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	if h.auth == nil && !h.cfg.AnyHost && r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && !localHost(r.Host) {
		http.Error(w, fmt.Sprintf("403 forbidden: without admin logins the admin endpoints answer requests for an IP address or localhost only, not for %q (a defence against DNS rebinding); add admin.users or admin.tokens, or set admin.allow_unprotected when a proxy in front checks", r.Host), http.StatusForbidden)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// localHost reports whether host (a request's Host: a name or address,
// with or without a port) is an IP address, localhost or a name under
// .localhost, which browsers resolve to loopback themselves. Any other
// name may be the attacker's, pointed at a loopback address after their
// page loaded (DNS rebinding), so that the page reads the endpoints as
// its own origin's.
func localHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	_, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if h.cfg.Ready != nil {
		if err := h.cfg.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
	}
	fmt.Fprintln(w, "ready")
}

// notFound answers a path that is none of the endpoints, saying which
// there are; a plain request for the WebSocket path (a browser opening it,
// say) learns that it needs a WebSocket upgrade.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	ws := h.cfg.WebSocketPath
	if ws == "" {
		ws = "/ws"
	}
	if r.URL.Path == ws {
		w.Header().Set("Upgrade", "websocket")
		w.WriteHeader(http.StatusUpgradeRequired)
		fmt.Fprintf(w, "426 upgrade required: %s is the WAMP endpoint; connect with a WebSocket client offering wamp.2.json, wamp.2.msgpack or wamp.2.cbor\n", ws)
		return
	}
	w.WriteHeader(http.StatusNotFound)
	var have []string
	if h.cfg.WebView {
		have = append(have, "/ (the web view)")
	}
	if h.cfg.Metrics != nil {
		have = append(have, "/metrics")
	}
	have = append(have, "/healthz", "/readyz")
	fmt.Fprintf(w, "404 not found: %s\nThis is a WAMP router: WebSocket clients connect to %s; here are also %s.\n",
		r.URL.Path, ws, strings.Join(have, ", "))
}

// identityKey carries the request's identity in its context.
type identityKey struct{}

// viewer lets a request through when it may look: anyone without Access,
// else a user or token. Others get 401, which makes a browser ask for a
// login, or 429 when the router's password limiter refused to check their
// password (too many checks from their address at once).
func (h *Handler) viewer(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.auth == nil {
			next(w, r)
			return
		}
		id, v := h.auth.check(r.Context(), r)
		switch v {
		case allowed:
			next(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
			return
		case busy:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "429 too many requests: too many logins from this address at once; try again later", http.StatusTooManyRequests)
			return
		case wrongCredentials:
			h.log.Info("admin: wrong credentials", "remote", r.RemoteAddr, "path", r.URL.Path)
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="Junction", charset="UTF-8"`)
		http.Error(w, "401 unauthorized: log in with a user of the admin section (basic auth) or a bearer token", http.StatusUnauthorized)
	})
}

// ErrAccessFixed is returned by SetAccess when the endpoints were made
// without Access, or for no users and no tokens: whether they ask for
// credentials at all (and so whether they check the Host of requests) is
// decided when they are made.
var ErrAccessFixed = errors.New("admin: logins can be changed, not added or taken away, while the endpoints serve")

// SetAccess replaces the users and tokens that may log in (Config.Access's;
// its throttle stays, with what it counted). Credentials verified before
// are verified again, so a user or token removed, or whose secret
// changed, is refused from its next request, and the live streams of the
// web view end (a page opens its stream again, with the login it has).
func (h *Handler) SetAccess(users []User, tokens []Token) error {
	if h.auth == nil || len(users) == 0 && len(tokens) == 0 {
		return ErrAccessFixed
	}
	h.auth.setAccess(users, tokens)
	return nil
}

// requester returns who made r: anonymous without Access.
func requester(r *http.Request) identity {
	id, _ := r.Context().Value(identityKey{}).(identity)
	return id
}
