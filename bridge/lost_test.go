package bridge_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/junction-wamp/junction/bridge"
	"github.com/junction-wamp/junction/internal/testwait"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// agentSession is the id of the one established session with a
// subscription or a registration in realm1 other than not, 0 for none.
func agentSession(rt *router.Router, not wamp.ID) wamp.ID {
	list, _ := rt.Sessions(router.SessionQuery{Realm: "realm1", Limit: 100})
	for _, si := range list {
		if si.ID != not && si.Subscriptions+si.Registrations > 0 {
			return si.ID
		}
	}
	return 0
}

// TestWebhookOutlivesItsSession: a webhook whose session the router ends
// (an operator's kill; a slow consumer cut off) joins again and
// subscribes again; before, it stopped delivering for good, and neither
// its stats nor its logs said so.
func TestWebhookOutlivesItsSession(t *testing.T) {
	s := start(t, nil)
	epURL, got := webhookEndpoint(t, 4)
	wh, err := bridge.StartWebhook(t.Context(), bridge.WebhookConfig{Router: s.rt, Topic: "com.example.t", URL: epURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wh.Stop)
	first := agentSession(s.rt, 0)
	if first == 0 {
		t.Fatal("no webhook session")
	}
	if err := s.rt.KillSession("realm1", first, "", "by the test"); err != nil {
		t.Fatal(err)
	}
	testwait.True(t, ioTimeout, "the webhook to subscribe again", func() bool { return agentSession(s.rt, first) != 0 })
	if _, err := s.ws(t).Publish(t.Context(), "com.example.t", wamp.List{"after"}, nil, wamp.Dict{"acknowledge": true}); err != nil {
		t.Fatal(err)
	}
	if m := within(t, got, "the event after the kill"); m["topic"] != "com.example.t" {
		t.Errorf("POST %v", m)
	}
}

// TestCalleeOutlivesItsSession: the same for an HTTP callee, whose
// procedure was gone for good (no_such_procedure) once its session ended.
func TestCalleeOutlivesItsSession(t *testing.T) {
	s := start(t, nil)
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"args": ["pong"]}`)
	}))
	t.Cleanup(ep.Close)
	c, err := bridge.StartCallee(t.Context(), bridge.CalleeConfig{Router: s.rt, Procedure: "com.example.ping", URL: ep.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	first := agentSession(s.rt, 0)
	if first == 0 {
		t.Fatal("no callee session")
	}
	if err := s.rt.KillSession("realm1", first, "", "by the test"); err != nil {
		t.Fatal(err)
	}
	testwait.True(t, ioTimeout, "the callee to register again", func() bool { return agentSession(s.rt, first) != 0 })
	ctx, cancel := context.WithTimeout(t.Context(), ioTimeout)
	defer cancel()
	res, err := s.ws(t).Call(ctx, "com.example.ping", nil, nil, nil)
	if err != nil || len(res.Args) != 1 || res.Args[0] != "pong" {
		t.Errorf("call after the kill: %v %v", res, err)
	}
}

// webhookEndpoint is an HTTP server that takes webhook POSTs: their JSON
// bodies come out of the channel (room for n).
func webhookEndpoint(t *testing.T, n int) (string, <-chan map[string]any) {
	t.Helper()
	posted := make(chan map[string]any, n)
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &m)
		posted <- m
	}))
	t.Cleanup(ep.Close)
	return ep.URL, posted
}
