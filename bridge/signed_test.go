package bridge_test

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/bridge"
)

// TestSignedReplayResplit: the signature covers key, timestamp, seq, nonce
// and body concatenated with nothing between them (Crossbar's), so seq 12
// with nonce 3 and seq 1 with nonce 23 have the same signature. A captured
// request replayed with its seq and nonce cut elsewhere is still a replay
// and is refused: the bridge must not publish twice.
func TestSignedReplayResplit(t *testing.T) {
	key := bridge.Key{Key: "svc-key", Secret: "s3cret", AuthID: "svc"}
	s := start(t, func(c *bridge.Config) { c.Keys = []bridge.Key{key} })
	body := `{"topic": "com.example.signed", "args": [1]}`
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	sig := base64.URLEncoding.EncodeToString(bridge.Sign(key.Secret, key.Key, ts, "12", "3", []byte(body)))
	query := func(seq, nonce string) string {
		return "/publish?" + url.Values{"key": {key.Key}, "timestamp": {ts}, "seq": {seq}, "nonce": {nonce}, "signature": {sig}}.Encode()
	}
	if status, _, raw := s.do(t, "POST", query("12", "3"), "application/json", body); status != 200 {
		t.Fatalf("the signed request: %d %s", status, raw)
	}
	// The same bytes signed: "12"+"3" == "1"+"23".
	if status, _, raw := s.do(t, "POST", query("1", "23"), "application/json", body); status != 401 || !strings.Contains(raw, "replayed") {
		t.Errorf("replayed as seq 1 nonce 23: %d %s, want 401 replayed", status, raw)
	}
	if n := s.b.Stats().Publications; n != 1 {
		t.Errorf("%d publications, want 1", n)
	}
}
