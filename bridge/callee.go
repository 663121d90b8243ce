package bridge

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// Defaults for CalleeConfig's zero fields.
const (
	DefaultCalleeTimeout     = 30 * time.Second
	DefaultCalleeConcurrency = 16
	maxCalleeAnswer          = 16 << 20
)

// ErrHTTPCallee is the error URI of an HTTP callee whose endpoint failed
// without a WAMP error of its own (no answer, a status with no error body,
// an answer that is not JSON).
const ErrHTTPCallee wamp.URI = "junction.error.http_callee"

// CalleeConfig registers a procedure whose invocations are POSTed to an
// HTTP endpoint as {"procedure", "args", "kwargs", "details"}. A 2xx
// answer's JSON {"args", "kwargs"} (either optional, an empty body too) is
// the result. Another status with a JSON body {"error": <URI>, "args",
// "kwargs"} is that WAMP error; without one, ErrHTTPCallee with the
// status. No answer in Timeout is wamp.error.timeout.
type CalleeConfig struct {
	Router    *router.Router
	Realm     string // default realm1
	Procedure string
	Match     string // exact (default), prefix or wildcard
	URL       string
	// Secret signs each POST as a webhook's (X-Junction-Timestamp,
	// X-Junction-Signature); "": unsigned.
	Secret string
	// AuthID and Ticket are the identity that registers; none: anonymous.
	AuthID, Ticket string
	// Timeout bounds one POST (and so the call, unless the caller's
	// timeout is shorter); default 30s.
	Timeout time.Duration
	// Concurrency bounds the POSTs in flight; an invocation beyond it
	// waits for one to end (within its timeout); default 16.
	Concurrency int
	Client      *http.Client
	Logger      *slog.Logger
}

// Callee is a running HTTP callee.
type Callee struct {
	cfg  CalleeConfig
	log  *slog.Logger
	sess *client.Session
	sem  chan struct{}
}

// StartCallee joins and registers the procedure. Stop ends it.
func StartCallee(ctx context.Context, cfg CalleeConfig) (*Callee, error) {
	if cfg.Router == nil || cfg.Procedure == "" || cfg.URL == "" {
		return nil, errors.New("bridge: an HTTP callee needs a Router, a Procedure and a URL")
	}
	cfg.Realm = cmp.Or(cfg.Realm, DefaultRealm)
	cfg.Match = cmp.Or(cfg.Match, "exact")
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultCalleeTimeout)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, DefaultCalleeConcurrency)
	if cfg.Client == nil {
		cfg.Client = &http.Client{CheckRedirect: noRedirects}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("callee", cfg.URL, "procedure", cfg.Procedure)
	opts := &client.Options{Agent: "junction-http-callee", Reconnect: rejoin(log, "HTTP callee"), Logger: log}
	if cfg.AuthID != "" {
		opts.AuthID = cfg.AuthID
		opts.Credentials = []client.Credential{client.Ticket(cfg.Ticket), client.WAMPCRA(cfg.Ticket)}
	}
	s, err := client.ConnectLocal(ctx, cfg.Router, cfg.Realm, opts)
	if err != nil {
		return nil, fmt.Errorf("HTTP callee %s: joining %s: %w", cfg.URL, cfg.Realm, err)
	}
	c := &Callee{cfg: cfg, log: log, sess: s, sem: make(chan struct{}, cfg.Concurrency)}
	var regOpts wamp.Dict
	if cfg.Match != "exact" {
		regOpts = wamp.Dict{"match": cfg.Match}
	}
	if _, err := s.Register(ctx, cfg.Procedure, c.invoke, regOpts); err != nil {
		s.Close(context.Background())
		return nil, fmt.Errorf("HTTP callee %s: registering %s: %w", cfg.URL, cfg.Procedure, err)
	}
	return c, nil
}

// rejoin is the Reconnect of the sessions of webhooks and HTTP callees:
// one the router ends (an operator's kill, a slow consumer cut off) joins
// again and subscribes or registers again, rather than leaving its
// webhook deaf or its procedure gone until a restart. Stop ends it.
func rejoin(log *slog.Logger, what string) *client.Reconnect {
	return &client.Reconnect{MaxDelay: 5 * time.Second,
		OnDisconnect: func(err error) { log.Warn(what+": the router ended its session; joining again", "err", err) },
		OnReconnect: func(r client.Reconnected) {
			log.Info(what+": joined again", "session", r.Session, "attempts", r.Attempts)
		},
	}
}

// Stop unregisters (the session leaves).
func (c *Callee) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.sess.Close(ctx)
}

// invoke forwards one invocation.
func (c *Callee) invoke(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-ctx.Done():
		return nil, &client.Error{URI: wamp.ErrTimeout, Args: wamp.List{"the HTTP callee is busy"}}
	}
	body, err := json.Marshal(map[string]any{"procedure": inv.Procedure, "args": toJSON(orEmpty(inv.Args)),
		"kwargs": toJSON(orEmptyDict(inv.Kwargs)), "details": orEmptyDict(inv.Details)})
	if err != nil {
		return nil, &client.Error{URI: wamp.ErrInvalidArgument, Args: wamp.List{"the arguments do not encode as JSON: " + err.Error()}}
	}
	req, err := signedPost(ctx, c.cfg.URL, "junction-http-callee", c.cfg.Secret, body)
	if err != nil {
		return nil, &client.Error{URI: ErrHTTPCallee, Args: wamp.List{err.Error()}}
	}
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return nil, &client.Error{URI: wamp.ErrTimeout, Args: wamp.List{"the HTTP callee did not answer in time"}}
		}
		c.log.Info("HTTP callee: POST failed", "err", err)
		return nil, &client.Error{URI: ErrHTTPCallee, Args: wamp.List{"the HTTP callee failed: " + err.Error()}}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxCalleeAnswer+1))
	if err != nil {
		return nil, &client.Error{URI: ErrHTTPCallee, Args: wamp.List{"reading the HTTP callee's answer: " + err.Error()}}
	}
	if len(answer) > maxCalleeAnswer {
		return nil, &client.Error{URI: ErrHTTPCallee, Args: wamp.List{"the HTTP callee's answer is over 16 MiB"}}
	}
	var res struct {
		Error  wamp.URI  `json:"error"`
		Args   wamp.List `json:"args"`
		Kwargs wamp.Dict `json:"kwargs"`
	}
	jsonErr := error(nil)
	if !utf8.Valid(answer) {
		jsonErr = errors.New("not valid UTF-8, as JSON must be (RFC 8259)") // not passed on as U+FFFD
	} else if len(bytes.TrimSpace(answer)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(answer))
		dec.UseNumber()
		jsonErr = dec.Decode(&res)
		if jsonErr == nil {
			_, jsonErr = fromJSON(res.Args, true)
		}
		if jsonErr == nil {
			_, jsonErr = fromJSON(res.Kwargs, true)
		}
	}
	switch {
	case resp.StatusCode/100 == 2 && jsonErr == nil:
		return &client.Result{Args: res.Args, Kwargs: res.Kwargs}, nil
	case resp.StatusCode/100 == 2:
		return nil, &client.Error{URI: ErrHTTPCallee, Args: wamp.List{"the HTTP callee's answer is not JSON {\"args\", \"kwargs\"}: " + jsonErr.Error()}}
	case jsonErr == nil && res.Error != "":
		return nil, &client.Error{URI: res.Error, Args: res.Args, Kwargs: res.Kwargs}
	}
	return nil, &client.Error{URI: ErrHTTPCallee, Args: wamp.List{fmt.Sprintf("the HTTP callee answered %s", resp.Status)}}
}
