package bridge

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// Defaults for WebhookConfig's zero fields.
const (
	DefaultWebhookQueue   = 1000
	DefaultWebhookTimeout = 10 * time.Second
	DefaultWebhookRetries = 5
	webhookFirstBackoff   = 100 * time.Millisecond
	webhookMaxBackoff     = 10 * time.Second
	// webhookMaxRetryAfter bounds the wait a Retry-After header may ask
	// for: an endpoint must not park an event (and the queue behind it)
	// for long.
	webhookMaxRetryAfter = 60 * time.Second
)

// WebhookConfig subscribes an HTTP endpoint to a topic: each event is
// POSTed to URL as {"topic", "args", "kwargs", "details"}.
type WebhookConfig struct {
	Router *router.Router
	Realm  string // default realm1
	Topic  string
	Match  string // exact (default), prefix or wildcard
	URL    string
	// Secret signs each POST: X-Junction-Timestamp is the time of the
	// attempt (Unix seconds) and X-Junction-Signature is
	// "sha256=" + hex HMAC-SHA256 under Secret of the timestamp, ".", and
	// the body, so the endpoint can check origin and freshness. "" sends
	// neither header.
	Secret string
	// AuthID and Ticket are the identity the subscription joins with;
	// none: anonymous.
	AuthID, Ticket string
	// Queue bounds the events waiting for the endpoint; an event beyond it
	// is dropped (counted and logged), so a slow or dead endpoint never
	// slows the router; default 1000.
	Queue int
	// Timeout bounds one POST; default 10s.
	Timeout time.Duration
	// Retries is how many times a failed POST (an error, a 5xx, 408 or
	// 429) is tried again, with backoff doubling from 100ms up to 10s;
	// 0 takes the default, 5; a negative value tries once. Then the event
	// is dropped (counted and logged). A 429 or 503 answer with a
	// Retry-After header (seconds or an HTTP date) that asks for longer
	// than the backoff is waited for instead, up to 60s.
	Retries int
	// Client makes the requests; nil: one with Timeout.
	Client *http.Client
	Logger *slog.Logger

	// maxRetryAfter bounds what Retry-After may ask for; 0 is
	// webhookMaxRetryAfter. Tests lower it.
	maxRetryAfter time.Duration
}

// WebhookStats are what a Webhook did, a snapshot taken by Webhook.Stats.
type WebhookStats struct {
	Delivered int64 // events the endpoint answered 2xx
	Retried   int64 // POSTs tried again
	Dropped   int64 // events dropped: queue full, retries spent, or refused (4xx)
	// RetryAfter counts the retries (among Retried) that waited longer
	// than the backoff because the endpoint's Retry-After asked.
	RetryAfter int64
}

// webhookCounters are the live counters behind WebhookStats.
type webhookCounters struct {
	Delivered, Retried, Dropped, RetryAfter atomic.Int64
}

// Webhook is a running webhook: a session subscribed to the topic and a
// goroutine that POSTs what it receives.
type Webhook struct {
	cfg    WebhookConfig
	log    *slog.Logger
	stats  webhookCounters
	queue  chan []byte
	cancel context.CancelFunc
	done   chan struct{}
	sess   *client.Session

	warnMu   sync.Mutex
	lastWarn time.Time
}

// StartWebhook joins, subscribes and starts delivering. Stop ends it.
func StartWebhook(ctx context.Context, cfg WebhookConfig) (*Webhook, error) {
	if cfg.Router == nil || cfg.Topic == "" || cfg.URL == "" {
		return nil, errors.New("bridge: a webhook needs a Router, a Topic and a URL")
	}
	cfg.Realm = cmp.Or(cfg.Realm, DefaultRealm)
	cfg.Match = cmp.Or(cfg.Match, "exact")
	cfg.Queue = cmp.Or(cfg.Queue, DefaultWebhookQueue)
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultWebhookTimeout)
	cfg.maxRetryAfter = cmp.Or(cfg.maxRetryAfter, webhookMaxRetryAfter)
	switch {
	case cfg.Retries == 0:
		cfg.Retries = DefaultWebhookRetries
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout, CheckRedirect: noRedirects}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("webhook", cfg.URL, "topic", cfg.Topic)
	opts := &client.Options{Agent: "junction-webhook", Reconnect: rejoin(log, "webhook"), Logger: log}
	if cfg.AuthID != "" {
		opts.AuthID = cfg.AuthID
		opts.Credentials = []client.Credential{client.Ticket(cfg.Ticket), client.WAMPCRA(cfg.Ticket)}
	}
	s, err := client.ConnectLocal(ctx, cfg.Router, cfg.Realm, opts)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: joining %s: %w", cfg.URL, cfg.Realm, err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	w := &Webhook{cfg: cfg, log: log, queue: make(chan []byte, cfg.Queue), cancel: cancel, done: make(chan struct{}), sess: s}
	var subOpts wamp.Dict
	if cfg.Match != "exact" {
		subOpts = wamp.Dict{"match": cfg.Match}
	}
	if _, err := s.Subscribe(ctx, cfg.Topic, w.event, subOpts); err != nil {
		cancel()
		s.Close(context.Background())
		return nil, fmt.Errorf("webhook %s: subscribing to %s: %w", cfg.URL, cfg.Topic, err)
	}
	go w.run(rctx)
	return w, nil
}

// Stats returns a snapshot of the webhook's counters.
func (w *Webhook) Stats() WebhookStats {
	c := &w.stats
	return WebhookStats{Delivered: c.Delivered.Load(), Retried: c.Retried.Load(), Dropped: c.Dropped.Load(), RetryAfter: c.RetryAfter.Load()}
}

// Stop leaves the realm and stops delivering; events still queued, and
// the one being delivered, are dropped (counted and logged).
func (w *Webhook) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = w.sess.Close(ctx)
	w.cancel()
	<-w.done
	for {
		select {
		case <-w.queue:
			w.drop("the webhook stopped", nil)
		default:
			return
		}
	}
}

// event queues an event for the endpoint; it never blocks.
func (w *Webhook) event(ev *client.Event) {
	body, err := json.Marshal(map[string]any{"topic": ev.Topic, "args": toJSON(orEmpty(ev.Args)),
		"kwargs": toJSON(orEmptyDict(ev.Kwargs)), "details": orEmptyDict(ev.Details)})
	if err != nil {
		w.drop("encoding the event", err)
		return
	}
	select {
	case w.queue <- body:
	default:
		w.drop("the queue is full", nil)
	}
}

// drop counts a dropped event and logs, at most once a second.
func (w *Webhook) drop(why string, err error) {
	n := w.stats.Dropped.Add(1)
	w.warnMu.Lock()
	defer w.warnMu.Unlock()
	if time.Since(w.lastWarn) < time.Second {
		return
	}
	w.lastWarn = time.Now()
	w.log.Warn("webhook: event dropped", "why", why, "err", err, "dropped", n)
}

func (w *Webhook) run(ctx context.Context) {
	defer close(w.done)
	for {
		select {
		case <-ctx.Done():
			return
		case body := <-w.queue:
			w.deliver(ctx, body)
		}
	}
}

// deliver POSTs one event, retrying with backoff, or after the wait the
// endpoint's Retry-After asks for when that is longer.
func (w *Webhook) deliver(ctx context.Context, body []byte) {
	backoff := webhookFirstBackoff
	for attempt := 0; ; attempt++ {
		status, retryAfter, err := w.post(ctx, body)
		switch {
		case err == nil && status/100 == 2:
			w.stats.Delivered.Add(1)
			return
		case err == nil && status/100 == 3:
			w.drop("the endpoint redirected it (redirects are not followed)", fmt.Errorf("HTTP %d", status))
			return
		case err == nil && status/100 == 4 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout:
			w.drop("the endpoint refused it", fmt.Errorf("HTTP %d", status))
			return
		case ctx.Err() != nil:
			w.drop("the webhook stopped", err)
			return
		case attempt >= w.cfg.Retries:
			if err == nil {
				err = fmt.Errorf("HTTP %d", status)
			}
			w.drop(fmt.Sprintf("%d attempts failed", attempt+1), err)
			return
		}
		w.stats.Retried.Add(1)
		wait, asked := retryWait(backoff, status, retryAfter, time.Now(), w.cfg.maxRetryAfter)
		if wait > backoff {
			w.stats.RetryAfter.Add(1)
		}
		if asked > wait {
			// Logged at most once per wait of the bound, a minute.
			w.log.Warn("webhook: the endpoint asked to be tried again later than the webhook waits",
				"status", status, "retry_after", retryAfter, "wait", wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			w.drop("the webhook stopped", nil)
			return
		case <-t.C:
		}
		backoff = min(2*backoff, webhookMaxBackoff)
	}
}

// post POSTs body once and returns the answer's status and Retry-After
// header.
func (w *Webhook) post(ctx context.Context, body []byte) (status int, retryAfter string, err error) {
	req, err := signedPost(ctx, w.cfg.URL, "junction-webhook", w.cfg.Secret, body)
	if err != nil {
		return 0, "", err
	}
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return 0, "", err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

// retryWait returns how long to wait before trying a POST again that was
// answered status with the Retry-After header retryAfter ("" if none),
// at now: the backoff, or longer when a 429 or 503 answer's Retry-After
// asks for longer, but never more than limit. asked is what Retry-After
// asked for (0 when it is absent, ignored or not valid).
func retryWait(backoff time.Duration, status int, retryAfter string, now time.Time, limit time.Duration) (wait, asked time.Duration) {
	if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable || retryAfter == "" {
		return backoff, 0
	}
	asked, ok := parseRetryAfter(retryAfter, now)
	if !ok {
		return backoff, 0
	}
	return max(backoff, min(asked, limit)), asked
}

// parseRetryAfter reads a Retry-After header (RFC 9110 section 10.2.3):
// delta-seconds or an HTTP date, as a wait from now (0 for a date past).
// A wait too long for a time.Duration is the longest one.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v != "" && strings.Trim(v, "0123456789") == "" {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil || secs > math.MaxInt64/uint64(time.Second) {
			return math.MaxInt64, true // only digits, so too many of them
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now) // saturates rather than overflowing
	return max(d, 0), true
}

// signedPost is a JSON POST of body to url, as webhooks and HTTP callees
// send them: with a secret, X-Junction-Timestamp (Unix seconds) and
// X-Junction-Signature (WebhookSignature, hex, after "sha256=").
func signedPost(ctx context.Context, url, agent, secret string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", agent)
	if secret != "" {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("X-Junction-Timestamp", ts)
		req.Header.Set("X-Junction-Signature", "sha256="+hex.EncodeToString(WebhookSignature(secret, ts, body)))
	}
	return req, nil
}

// WebhookSignature is HMAC-SHA256 under secret of timestamp, ".", body:
// what X-Junction-Signature carries, hex-encoded after "sha256=".
func WebhookSignature(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}
