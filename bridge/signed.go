package bridge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Key is a key of signed requests.
type Key struct {
	Key    string // the key's name, the request's key parameter
	Secret string // the HMAC key, also the principal's ticket
	AuthID string // the principal it signs for
}

// Signed requests are Crossbar.io's: the query carries key, timestamp
// (RFC 3339 in UTC, as 2011-10-14T16:59:51.123Z), seq (an integer), nonce
// (an integer, random) and signature: base64url of HMAC-SHA256 under the
// key's secret of key, timestamp, seq, nonce and the body, concatenated.
// Unlike Crossbar's check, which ignores seq and nonce, a request is
// accepted at most once: its timestamp must be within SignatureWindow of
// the router's clock, and its key and signature are remembered for twice
// the window, so a replay, inside the window or after, is refused. The
// signature, not the nonce: the fields are concatenated with nothing
// between them, so seq 12 with nonce 3 signs the same bytes as seq 1 with
// nonce 23, and a captured request re-cut that way would pass a memory of
// nonces; its signature is the same.

// errNonceMemoryFull refuses a signed request when MaxNonces nonces are
// remembered and none has expired.
var errNonceMemoryFull = errors.New("too many signed requests at once; retry later")

// verify checks a signed request's query and body and returns its key.
func (h *Handler) verify(q url.Values, body []byte) (Key, error) {
	name, ts, seq, nonce, sig := q.Get("key"), q.Get("timestamp"), q.Get("seq"), q.Get("nonce"), q.Get("signature")
	if name == "" || ts == "" || seq == "" || nonce == "" {
		return Key{}, errors.New("a signed request needs key, timestamp, seq, nonce and signature")
	}
	k, ok := h.keys[name]
	if !ok {
		return Key{}, fmt.Errorf("unknown key %q", name)
	}
	if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
		return Key{}, fmt.Errorf("seq %q is not an integer", seq)
	}
	if _, err := strconv.ParseUint(nonce, 10, 64); err != nil {
		return Key{}, fmt.Errorf("nonce %q is not an integer", nonce)
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return Key{}, fmt.Errorf("timestamp %q is not RFC 3339 (2011-10-14T16:59:51.123Z)", ts)
	}
	now := time.Now()
	if d := now.Sub(t); d > h.cfg.SignatureWindow || d < -h.cfg.SignatureWindow {
		return Key{}, fmt.Errorf("timestamp %s is more than %s from the router's clock", ts, h.cfg.SignatureWindow)
	}
	got, err := base64.URLEncoding.DecodeString(sig)
	if err != nil {
		got, err = base64.RawURLEncoding.DecodeString(sig)
	}
	if err != nil || !hmac.Equal(got, Sign(k.Secret, name, ts, seq, nonce, body)) {
		return Key{}, errors.New("the signature does not match")
	}
	// Only a request signed with the key is remembered: nobody else can
	// fill the memory. got is the HMAC itself, whichever base64 spelled it.
	if err := h.nonces.spend(name+"\x00"+string(got), now, 2*h.cfg.SignatureWindow); err != nil {
		return Key{}, err
	}
	return k, nil
}

// Sign is the signature of a request: HMAC-SHA256 under secret of key,
// timestamp, seq, nonce and body. A client sends it base64url-encoded.
func Sign(secret, key, timestamp, seq, nonce string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(key))
	m.Write([]byte(timestamp))
	m.Write([]byte(seq))
	m.Write([]byte(nonce))
	m.Write(body)
	return m.Sum(nil)
}

// SignQuery returns the query of a signed request with body, for clients
// (and tests) in Go.
func SignQuery(k Key, seq, nonce uint64, now time.Time, body []byte) string {
	ts := now.UTC().Format("2006-01-02T15:04:05.000Z")
	s, n := strconv.FormatUint(seq, 10), strconv.FormatUint(nonce, 10)
	v := url.Values{"key": {k.Key}, "timestamp": {ts}, "seq": {s}, "nonce": {n},
		"signature": {base64.URLEncoding.EncodeToString(Sign(k.Secret, k.Key, ts, s, n, body))}}
	return v.Encode()
}

// nonceMemory remembers the signed requests accepted (by key and
// signature), each until it expires, at most max at once.
type nonceMemory struct {
	mu   sync.Mutex
	max  int
	seen map[string]time.Time // key and signature -> expiry
}

func (m *nonceMemory) spend(nonce string, now time.Time, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if exp, ok := m.seen[nonce]; ok && now.Before(exp) {
		return errors.New("replayed: this request was accepted already")
	}
	if len(m.seen) >= m.max {
		for k, exp := range m.seen {
			if !now.Before(exp) {
				delete(m.seen, k)
			}
		}
		if len(m.seen) >= m.max {
			return errNonceMemoryFull
		}
	}
	m.seen[nonce] = now.Add(ttl)
	return nil
}

// noRedirects is the CheckRedirect of the clients the bridge makes for
// webhooks and HTTP callees: a redirect answers the POST (a failure), it
// is not followed. Go's client would follow a 301, 302 or 303 with a GET
// without the body, and take the answer to that for the event's delivery
// or the call's result.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
