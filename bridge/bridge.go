// Package bridge is the HTTP bridge: POST a publication or a call as JSON
// and get the publication id or the call's result back, for clients that
// speak no WAMP at all (shell scripts, serverless functions, webhooks of
// other products). The bodies are Crossbar.io's, so its users' scripts
// work; unlike Crossbar's bridge, errors are real HTTP statuses. Values
// are WAMP's JSON: binary is a string of U+0000 followed by base64, both
// ways (and in webhooks' and HTTP callees' POSTs).
//
// Each request is a router session of its own (client.ConnectLocal, in
// process): it joins the realm with the request's identity (an
// Authorization header, Bearer ticket or Basic authid and secret; none for
// anonymous), publishes or calls, and says GOODBYE. So authentication, the
// role's permissions and disclosure apply exactly as for a WAMP session of
// that identity; the price is a join per request (and its on_join and
// on_leave meta events).
//
// Statuses: 200 with {"id": <publication id>} or {"args", "kwargs"};
// otherwise the body is {"error": <URI>, "args", "kwargs"}: 400 malformed
// JSON, missing topic or procedure, invalid URI or argument (a number that
// is no 64-bit value among them); 401
// authentication required or failed; 403 not authorized; 404
// no_such_procedure or no_such_realm; 405 another method than POST; 413 a
// body over the limit; 415 a body that is not application/json; 504 a call
// that timed out; 503 wamp.error.unavailable or no_available_callee; 502
// any other error URI (an application error of the callee, passed on with
// its args and kwargs: the failure is upstream of the bridge, as a
// gateway's; and ErrResultNotJSON); 500 the bridge's own failure. A request whose context ends
// before its answer (its client left; or the listener is shutting down)
// has its call canceled (CANCEL), is counted apart (Stats.ClientClosed,
// nginx's 499) and answered 503 wamp.error.canceled, which only a client
// still there reads.
package bridge

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// Defaults for Config's zero fields.
const (
	DefaultRealm        = "realm1"
	DefaultMaxBodyBytes = 1 << 20
	DefaultCallTimeout  = 60 * time.Second
	DefaultJoinTimeout  = 10 * time.Second

	DefaultSignatureWindow = 5 * time.Minute
	DefaultMaxNonces       = 100_000
)

// Config configures a Handler.
type Config struct {
	// Router is the router the requests' sessions join. Required.
	Router *router.Router
	// Realm is the realm they join; default realm1.
	Realm string
	// MaxBodyBytes bounds a request's body (413 beyond); default 1 MiB.
	// The listener's HTTP body limit applies too.
	MaxBodyBytes int64
	// CallTimeout bounds a call: a call's options.timeout (milliseconds)
	// may ask for less, never more; 504 when it passes; default 60s.
	CallTimeout time.Duration
	// Keys are the keys of signed requests (see verify). Each signs for a
	// principal of the realm whose ticket (or wampcra secret) is the
	// key's secret: a signed request joins as that principal.
	Keys []Key
	// SignatureWindow is how far a signed request's timestamp may be from
	// the router's clock; default 5 minutes. The requests accepted (their
	// signatures) are remembered for twice as long, so a request is never
	// accepted twice.
	SignatureWindow time.Duration
	// MaxNonces bounds the signed requests remembered; one beyond it
	// is refused (503) until old ones expire; default 100,000.
	MaxNonces int
	// Logger receives the bridge's logs; nil discards them.
	Logger *slog.Logger
}

// Stats are what a Handler did, a snapshot taken by Handler.Stats.
type Stats struct {
	Publications int64 // publications made
	Calls        int64 // calls answered 200
	Refused      int64 // requests answered 4xx
	Failed       int64 // requests answered 5xx
	ClientClosed int64 // requests ended before their answer: the client left (nginx's 499), or the listener shut down
}

// counters are the live counters behind Stats.
type counters struct {
	Publications, Calls, Refused, Failed, ClientClosed atomic.Int64
}

// Handler serves the bridge's endpoints: Publish and Call.
type Handler struct {
	cfg    Config
	log    *slog.Logger
	stats  counters
	keys   map[string]Key
	nonces nonceMemory
}

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Router == nil {
		return nil, errors.New("bridge: Config.Router is nil")
	}
	if cfg.MaxBodyBytes < 0 || cfg.CallTimeout < 0 {
		return nil, errors.New("bridge: Config.MaxBodyBytes and CallTimeout must not be negative")
	}
	cfg.Realm = cmp.Or(cfg.Realm, DefaultRealm)
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	cfg.CallTimeout = cmp.Or(cfg.CallTimeout, DefaultCallTimeout)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.SignatureWindow = cmp.Or(cfg.SignatureWindow, DefaultSignatureWindow)
	cfg.MaxNonces = cmp.Or(cfg.MaxNonces, DefaultMaxNonces)
	h := &Handler{cfg: cfg, log: log, keys: make(map[string]Key, len(cfg.Keys)),
		nonces: nonceMemory{max: cfg.MaxNonces, seen: make(map[string]time.Time)}}
	for _, k := range cfg.Keys {
		if k.Key == "" || k.Secret == "" || k.AuthID == "" {
			return nil, fmt.Errorf("bridge: key %q needs a key, a secret and an authid", k.Key)
		}
		if _, dup := h.keys[k.Key]; dup {
			return nil, fmt.Errorf("bridge: key %q is listed twice", k.Key)
		}
		h.keys[k.Key] = k
	}
	return h, nil
}

// Stats returns a snapshot of the Handler's counters.
func (h *Handler) Stats() Stats {
	c := &h.stats
	return Stats{Publications: c.Publications.Load(), Calls: c.Calls.Load(), Refused: c.Refused.Load(), Failed: c.Failed.Load(),
		ClientClosed: c.ClientClosed.Load()}
}

// Publish is the handler of POST /publish: {"topic", "args", "kwargs",
// "options"} -> {"id": <publication id>}. The publication is always
// acknowledged; options exclude, eligible, their _authid and _authrole
// forms, retain and disclose_me are passed on, others refused (400).
func (h *Handler) Publish() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, body, ok := h.readRequest(w, r, "topic", "acknowledge", "exclude", "exclude_authid", "exclude_authrole",
			"eligible", "eligible_authid", "eligible_authrole", "retain", "disclose_me")
		if !ok {
			return
		}
		opts := req.Options
		opts["acknowledge"] = true
		s, ok := h.join(w, r, body)
		if !ok {
			return
		}
		defer h.leave(s)
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.CallTimeout)
		defer cancel()
		id, err := s.Publish(ctx, req.URI, req.Args, req.Kwargs, opts)
		if err != nil {
			h.wampError(w, r, err)
			return
		}
		h.stats.Publications.Add(1)
		writeJSON(w, http.StatusOK, map[string]any{"id": id})
	})
}

// Call is the handler of POST /call: {"procedure", "args", "kwargs",
// "options"} -> {"args", "kwargs"}. Options: timeout (milliseconds, at
// most Config.CallTimeout), disclose_me, receive_progress. With
// receive_progress and Accept: text/event-stream each progressive result
// is streamed as an event "progress" and the final one as "result" (or
// "error"); with Accept: application/x-ndjson as JSON lines, progressive
// ones with "progress": true. Otherwise the final result alone is sent.
func (h *Handler) Call() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, body, ok := h.readRequest(w, r, "procedure", "timeout", "disclose_me", "receive_progress")
		if !ok {
			return
		}
		opts := req.Options
		timeout := h.cfg.CallTimeout
		if v, present := opts["timeout"]; present {
			ms, ok := wamp.AsInt(v)
			if !ok || ms < 0 {
				h.fail(w, http.StatusBadRequest, wamp.ErrInvalidArgument, "options.timeout is not a number of milliseconds")
				return
			}
			if ms > 0 && ms < timeout.Milliseconds() { // compared in ms: a huge ms would overflow a Duration
				timeout = time.Duration(ms) * time.Millisecond
			}
		}
		// The router enforces it too (call_timeout): the callee is
		// interrupted and the answer is wamp.error.timeout.
		opts["timeout"] = timeout.Milliseconds()
		progress := wamp.Bool(opts, "receive_progress", false)
		delete(opts, "receive_progress")
		stream := ""
		if progress {
			stream = streamKind(r.Header.Get("Accept"))
		}

		s, ok := h.join(w, r, body)
		if !ok {
			return
		}
		defer h.leave(s)
		// The router's timeout answers first; this one only bounds a
		// router that does not.
		ctx, cancel := context.WithTimeout(r.Context(), timeout+time.Second)
		defer cancel()
		if stream == "" {
			// The listener's write timeout counts from the request's
			// start, and may be shorter than the call may take: the
			// answer must still go out.
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout + 5*time.Second))
			res, err := s.Call(ctx, req.URI, req.Args, req.Kwargs, opts)
			if err != nil {
				h.wampError(w, r, err)
				return
			}
			b, err := json.Marshal(resultBody(res, false))
			if err != nil {
				h.fail(w, http.StatusBadGateway, ErrResultNotJSON, "the callee's result cannot be sent as JSON: "+err.Error())
				return
			}
			h.stats.Calls.Add(1)
			writeBody(w, http.StatusOK, b)
			return
		}
		h.streamCall(ctx, w, r, s, stream, req.URI, req.Args, req.Kwargs, opts, timeout)
	})
}

// streamCall makes a call with progressive results and streams them.
func (h *Handler) streamCall(ctx context.Context, w http.ResponseWriter, r *http.Request, s *client.Session, kind, procedure string,
	args wamp.List, kwargs wamp.Dict, opts wamp.Dict, timeout time.Duration) {
	rc := http.NewResponseController(w)
	// The listener's write timeout counts from the request's start: a
	// stream lives as long as the call.
	_ = rc.SetWriteDeadline(time.Now().Add(timeout + 5*time.Second))
	started := false
	start := func() {
		if started {
			return
		}
		started = true
		if kind == "sse" {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/x-ndjson")
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	}
	send := func(event string, body any) error {
		b, err := json.Marshal(body)
		if err != nil {
			return &notJSONError{err}
		}
		if kind == "sse" {
			_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		} else {
			_, err = fmt.Fprintf(w, "%s\n", b)
		}
		if err == nil {
			err = rc.Flush()
		}
		return err
	}
	res, err := s.CallProgress(ctx, procedure, args, kwargs, opts, func(res *client.Result) error {
		start()
		return send("progress", resultBody(res, true))
	})
	if err != nil {
		if !started {
			// Nothing streamed yet: the error gets its real status.
			h.wampError(w, r, err)
			return
		}
		if h.left(w, r, false) {
			return
		}
		status, body := h.errorBody(err)
		if status >= 500 {
			h.stats.Failed.Add(1)
		} else {
			h.stats.Refused.Add(1)
		}
		_ = send("error", body)
		return
	}
	final := resultBody(res, false)
	if _, err := json.Marshal(final); err != nil {
		if !started {
			h.fail(w, http.StatusBadGateway, ErrResultNotJSON, "the callee's result cannot be sent as JSON: "+err.Error())
			return
		}
		h.stats.Failed.Add(1)
		_ = send("error", errorJSON{ErrResultNotJSON, wamp.List{"the callee's result cannot be sent as JSON: " + err.Error()}, wamp.Dict{}})
		return
	}
	start()
	h.stats.Calls.Add(1)
	_ = send("result", final)
}

// ErrResultNotJSON is the error URI of a call whose result (or progressive
// result) JSON cannot carry: a callee of another serialization sent NaN or
// an infinity. The status is 502, the callee's failure.
const ErrResultNotJSON wamp.URI = "junction.error.result_not_json"

// notJSONError is a progressive result that JSON cannot carry; the call is
// canceled and answered ErrResultNotJSON.
type notJSONError struct{ err error }

func (e *notJSONError) Error() string {
	return "the callee's progressive result cannot be sent as JSON: " + e.err.Error()
}

// streamKind is "sse" or "ndjson" as Accept asks, "" for neither.
func streamKind(accept string) string {
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
		switch mt {
		case "text/event-stream":
			return "sse"
		case "application/x-ndjson", "application/ndjson":
			return "ndjson"
		}
	}
	return ""
}

func resultBody(r *client.Result, progress bool) map[string]any {
	b := map[string]any{"args": toJSON(orEmpty(r.Args)), "kwargs": toJSON(orEmptyDict(r.Kwargs))}
	if progress {
		b["progress"] = true
	}
	return b
}

// request is the body of POST /publish or /call: the topic or procedure,
// the payload and the options.
type request struct {
	URI     string
	Args    wamp.List
	Kwargs  wamp.Dict
	Options wamp.Dict
}

// readRequest reads the body of POST /publish (uriField "topic") or /call
// ("procedure"): {uriField, "args", "kwargs", "options"}, numbers as
// integers where they are whole, options among allowed (returned as a
// copy the handler may change). On false the response is written.
func (h *Handler) readRequest(w http.ResponseWriter, r *http.Request, uriField string, allowed ...string) (request, []byte, bool) {
	var in struct {
		Topic     string    `json:"topic"`
		Procedure string    `json:"procedure"`
		Args      wamp.List `json:"args"`
		Kwargs    wamp.Dict `json:"kwargs"`
		Options   wamp.Dict `json:"options"`
	}
	body, ok := h.decode(w, r, &in)
	if !ok {
		return request{}, nil, false
	}
	for i, v := range []any{in.Args, in.Kwargs, in.Options} {
		if _, err := fromJSON(v, i < 2); err != nil {
			h.fail(w, http.StatusBadRequest, wamp.ErrInvalidArgument, "the body's "+err.Error())
			return request{}, nil, false
		}
	}
	req := request{URI: in.Topic, Args: in.Args, Kwargs: in.Kwargs}
	if uriField == "procedure" {
		req.URI = in.Procedure
	}
	if req.URI == "" {
		h.fail(w, http.StatusBadRequest, wamp.ErrInvalidURI, "the body has no "+uriField)
		return request{}, nil, false
	}
	if req.Options, ok = h.options(w, in.Options, allowed...); !ok {
		return request{}, nil, false
	}
	return req, body, true
}

// decode checks the method, the content type and the size of the body and
// decodes it into v; it returns the body (signed requests sign it). On
// failure it has answered.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) ([]byte, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, http.StatusMethodNotAllowed, "junction.error.method_not_allowed", r.Method+" is not allowed; POST a JSON body")
		return nil, false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		h.fail(w, http.StatusUnsupportedMediaType, "junction.error.unsupported_media_type",
			fmt.Sprintf("the body must be application/json, not %q", r.Header.Get("Content-Type")))
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		if e, ok := errors.AsType[*http.MaxBytesError](err); ok {
			// e.Limit: the listener's HTTP body limit may be the lower.
			h.fail(w, http.StatusRequestEntityTooLarge, wamp.ErrPayloadSizeExceeded, fmt.Sprintf("the body is over %d bytes", e.Limit))
			return nil, false
		}
		h.fail(w, http.StatusBadRequest, "junction.error.bad_request", "reading the body: "+err.Error())
		return nil, false
	}
	if !utf8.Valid(body) {
		// encoding/json would pass each bad byte on as U+FFFD: the
		// receivers would get other strings than the ones sent.
		h.fail(w, http.StatusBadRequest, wamp.ErrInvalidArgument, "the body is not valid UTF-8, as JSON must be (RFC 8259)")
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		h.fail(w, http.StatusBadRequest, wamp.ErrInvalidArgument, "the body is not the JSON expected: "+err.Error())
		return nil, false
	}
	if dec.More() {
		h.fail(w, http.StatusBadRequest, wamp.ErrInvalidArgument, "the body has more than one JSON value")
		return nil, false
	}
	return body, true
}

// fromJSON makes the values of a decoded body (v, changed in place) WAMP
// values: a json.Number becomes an int64 (or uint64) where it is an
// integer and a float64 otherwise, so that 1 stays an integer in every
// serialization, as in WAMP's JSON; with binary (a payload's args and
// kwargs), a string of U+0000 followed by base64 becomes those bytes,
// WAMP's JSON convention for binary. A number that is no 64-bit value (an
// integer beyond 64 bits, a float beyond float64, as 1e400) or a binary
// whose base64 is bad is an error, as in the router's JSON serialization:
// passed on rounded, as an infinity or as a string starting with U+0000
// (neither of which JSON carries on), it would reach its receivers as
// another value, or not at all.
func fromJSON(v any, binary bool) (any, error) {
	switch v := v.(type) {
	case json.Number:
		if !strings.ContainsAny(string(v), ".eE") {
			if i, err := v.Int64(); err == nil {
				return i, nil
			}
			if u, err := strconv.ParseUint(string(v), 10, 64); err == nil {
				return u, nil
			}
			return nil, fmt.Errorf("integer %.40s does not fit in 64 bits", v)
		}
		f, err := v.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %.40s does not fit in a 64-bit float", v)
		}
		return f, nil
	case string:
		if b, ok := strings.CutPrefix(v, "\x00"); ok && binary {
			raw, err := base64.StdEncoding.DecodeString(b)
			if err != nil {
				return nil, fmt.Errorf("binary value (a string starting with \\u0000) %.40q is not base64", b)
			}
			return raw, nil
		}
	case wamp.List:
		for i := range v {
			n, err := fromJSON(v[i], binary)
			if err != nil {
				return nil, err
			}
			v[i] = n
		}
	case wamp.Dict:
		for k := range v {
			n, err := fromJSON(v[k], binary)
			if err != nil {
				return nil, err
			}
			v[k] = n
		}
	}
	return v, nil
}

// toJSON makes the binary values in v (changed in place) strings of U+0000
// followed by base64, WAMP's JSON convention, rather than the bare base64
// encoding/json would make of them, a string like any other.
func toJSON[T wamp.List | wamp.Dict](v T) T {
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case []byte:
			return "\x00" + base64.StdEncoding.EncodeToString(v)
		case wamp.List:
			for i := range v {
				v[i] = walk(v[i])
			}
		case wamp.Dict:
			for k := range v {
				v[k] = walk(v[k])
			}
		}
		return v
	}
	walk(v)
	return v
}

// options copies the allowed keys of opts; another key is refused.
func (h *Handler) options(w http.ResponseWriter, opts wamp.Dict, allowed ...string) (wamp.Dict, bool) {
	out := make(wamp.Dict, len(opts)+1)
	for k, v := range opts {
		known := false
		for _, a := range allowed {
			known = known || a == k
		}
		if !known {
			h.fail(w, http.StatusBadRequest, wamp.ErrInvalidArgument,
				fmt.Sprintf("option %q is not one of %s", k, strings.Join(allowed, ", ")))
			return nil, false
		}
		out[k] = v
	}
	return out, true
}

// join opens the request's session with its identity; on failure it has
// answered.
func (h *Handler) join(w http.ResponseWriter, r *http.Request, body []byte) (*client.Session, bool) {
	// The request's address, not one for every request: the realm's
	// authentication throttle slows down the address that fails, not all.
	opts := &client.Options{Agent: "junction-http-bridge", LocalRemoteAddr: r.RemoteAddr}
	if q := r.URL.Query(); q.Has("signature") {
		k, err := h.verify(q, body)
		if err != nil {
			status := http.StatusUnauthorized
			if errors.Is(err, errNonceMemoryFull) {
				status = http.StatusServiceUnavailable
			} else {
				w.Header().Set("WWW-Authenticate", `Basic realm="junction", charset="UTF-8"`)
			}
			h.log.Info("HTTP bridge: signed request refused", "remote", r.RemoteAddr, "err", err)
			h.fail(w, status, wamp.ErrAuthenticationFailed, err.Error())
			return nil, false
		}
		opts.AuthID = k.AuthID
		opts.Credentials = []client.Credential{client.Ticket(k.Secret), client.WAMPCRA(k.Secret)}
	} else if a := r.Header.Get("Authorization"); a != "" {
		scheme, cred, _ := strings.Cut(a, " ")
		switch strings.ToLower(scheme) {
		case "bearer":
			opts.Credentials = []client.Credential{client.Ticket(strings.TrimSpace(cred))}
		case "basic":
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
			user, pass, ok := strings.Cut(string(raw), ":")
			if err != nil || !ok || user == "" {
				h.unauthorized(w, "the Basic credentials are not base64 of authid:secret")
				return nil, false
			}
			opts.AuthID = user
			opts.Credentials = []client.Credential{client.Ticket(pass), client.WAMPCRA(pass)}
		default:
			h.unauthorized(w, fmt.Sprintf("authorization scheme %q is not Bearer or Basic", scheme))
			return nil, false
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), DefaultJoinTimeout)
	defer cancel()
	s, err := client.ConnectLocal(ctx, h.cfg.Router, h.cfg.Realm, opts)
	if err == nil {
		return s, true
	}
	if h.left(w, r, true) {
		return nil, false
	}
	var ce *client.CloseError
	if errors.As(err, &ce) {
		msg := wamp.String(ce.Details, "message")
		switch ce.Reason {
		case wamp.ErrNoSuchRealm:
			h.fail(w, http.StatusNotFound, ce.Reason, cmp.Or(msg, "no realm "+h.cfg.Realm))
			return nil, false
		case wamp.ErrAuthenticationFailed, wamp.ErrNoAuthMethod, wamp.ErrNotAuthorized, wamp.ErrNoSuchPrincipal, wamp.ErrNoSuchRole:
			w.Header().Set("WWW-Authenticate", `Basic realm="junction", charset="UTF-8"`)
			h.fail(w, http.StatusUnauthorized, ce.Reason, cmp.Or(msg, "authentication failed"))
			return nil, false
		}
	}
	h.log.Warn("HTTP bridge: joining failed", "realm", h.cfg.Realm, "err", err)
	h.fail(w, http.StatusInternalServerError, "junction.error.internal", "joining the realm: "+err.Error())
	return nil, false
}

func (h *Handler) unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="junction", charset="UTF-8"`)
	h.fail(w, http.StatusUnauthorized, wamp.ErrAuthenticationFailed, msg)
}

// leave ends a request's session: GOODBYE, then the router forgets it.
func (h *Handler) leave(s *client.Session) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.Close(ctx)
}

// left reports whether r's context has ended: its client left (closed its
// connection), or, rarely, the listener is shutting down (transport.Server
// cancels the requests in progress). If so it counts the request as
// ClientClosed, nginx's 499: it is no failure of the bridge or of a
// callee. Its call, made with a context from r's, was canceled with it
// (client.Session sends CANCEL), so the callee is interrupted rather than
// working for nobody. It answers 503, which only a client still there
// (the shutdown) reads; a stream already started (wrote false) is left
// as it is.
func (h *Handler) left(w http.ResponseWriter, r *http.Request, write bool) bool {
	if r.Context().Err() == nil {
		return false
	}
	h.stats.ClientClosed.Add(1)
	h.log.Debug("HTTP bridge: the request ended before its answer", "remote", r.RemoteAddr, "path", r.URL.Path)
	if write {
		writeJSON(w, http.StatusServiceUnavailable, errorJSON{wamp.ErrCanceled,
			wamp.List{"the request was canceled: its client left, or the server is shutting down"}, wamp.Dict{}})
	}
	return true
}

// errorJSON is an error's body, its members in this order.
type errorJSON struct {
	Error  wamp.URI  `json:"error"`
	Args   wamp.List `json:"args"`
	Kwargs wamp.Dict `json:"kwargs"`
}

// errorBody maps a publication's or a call's error to a status and body.
func (h *Handler) errorBody(err error) (int, errorJSON) {
	var we *client.Error
	switch {
	case errors.As(err, new(*notJSONError)):
		return http.StatusBadGateway, errorJSON{ErrResultNotJSON, wamp.List{err.Error()}, wamp.Dict{}}
	case errors.As(err, &we):
		return statusOf(we.URI), errorJSON{we.URI, toJSON(orEmpty(we.Args)), toJSON(orEmptyDict(we.Kwargs))}
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, errorJSON{wamp.ErrTimeout, wamp.List{"the call timed out"}, wamp.Dict{}}
	}
	return http.StatusInternalServerError, errorJSON{"junction.error.internal", wamp.List{err.Error()}, wamp.Dict{}}
}

func (h *Handler) wampError(w http.ResponseWriter, r *http.Request, err error) {
	if h.left(w, r, true) {
		return
	}
	status, body := h.errorBody(err)
	if status >= 500 {
		h.stats.Failed.Add(1)
	} else {
		h.stats.Refused.Add(1)
	}
	writeJSON(w, status, body)
}

// statusOf is the HTTP status of a WAMP error URI.
func statusOf(uri wamp.URI) int {
	switch uri {
	case wamp.ErrInvalidURI, wamp.ErrInvalidArgument, wamp.ErrOptionNotAllowed, wamp.ErrDiscloseMeDisallowed:
		return http.StatusBadRequest
	case wamp.ErrNotAuthorized, wamp.ErrAuthorizationFailed:
		return http.StatusForbidden
	case wamp.ErrNoSuchProcedure, wamp.ErrNoSuchRealm:
		return http.StatusNotFound
	case wamp.ErrPayloadSizeExceeded:
		return http.StatusRequestEntityTooLarge
	case wamp.ErrTimeout:
		return http.StatusGatewayTimeout
	case wamp.ErrUnavailable, wamp.ErrNoAvailableCallee:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

// fail answers status with {"error": uri, "args": [msg], "kwargs": {}}.
func (h *Handler) fail(w http.ResponseWriter, status int, uri wamp.URI, msg string) {
	if status >= 500 {
		h.stats.Failed.Add(1)
	} else {
		h.stats.Refused.Add(1)
	}
	writeJSON(w, status, errorJSON{uri, wamp.List{msg}, wamp.Dict{}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"junction.error.internal","args":["encoding the answer failed"],"kwargs":{}}`)
	}
	writeBody(w, status, b)
}

// writeBody answers status with b, JSON.
func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// orEmpty and orEmptyDict make a missing payload [] and {} in JSON.
func orEmpty(l wamp.List) wamp.List {
	if l == nil {
		return wamp.List{}
	}
	return l
}

func orEmptyDict(d wamp.Dict) wamp.Dict {
	if d == nil {
		return wamp.Dict{}
	}
	return d
}
