package bridge_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/junction-wamp/junction/bridge"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// TestHTTPCallee: a procedure served by an HTTP endpoint, called over
// WebSocket: its JSON answer is the result, its error body the WAMP error,
// a bare failure status junction.error.http_callee, no answer in time
// wamp.error.timeout.
func TestHTTPCallee(t *testing.T) {
	s := start(t, nil)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Procedure string
			Args      []any
			Kwargs    map[string]any
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &in); err != nil {
			t.Errorf("%s: %v", b, err)
		}
		switch in.Procedure {
		case "com.example.http.add":
			a, _ := in.Args[0].(float64)
			c, _ := in.Args[1].(float64)
			fmt.Fprintf(w, `{"args": [%d], "kwargs": {"by": "http"}}`, int(a+c))
		case "com.example.http.refuse":
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"error": "com.example.error.taken", "args": ["already"], "kwargs": {"id": 7}}`)
		case "com.example.http.crash":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "com.example.http.latin1":
			fmt.Fprint(w, "{\"args\": [\"caf\xe9\"]}") // not UTF-8: not passed on as "caf\ufffd"
		case "com.example.http.slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(ep.Close)
	c, err := bridge.StartCallee(t.Context(), bridge.CalleeConfig{Router: s.rt, Procedure: "com.example.http.", Match: "prefix",
		URL: ep.URL, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	ws := s.ws(t)
	res, err := ws.Call(t.Context(), "com.example.http.add", wamp.List{2, 3}, nil, nil)
	if err != nil || fmt.Sprint(res.Args, res.Kwargs) != "[5] map[by:http]" {
		t.Errorf("add: %v %v", res, err)
	}
	for _, tc := range []struct {
		proc, uri, says string
	}{
		{"com.example.http.refuse", "com.example.error.taken", "[already] map[id:7]"},
		{"com.example.http.crash", string(bridge.ErrHTTPCallee), "[the HTTP callee answered 500 Internal Server Error] map[]"},
		{"com.example.http.latin1", string(bridge.ErrHTTPCallee), "[the HTTP callee's answer is not JSON {\"args\", \"kwargs\"}: not valid UTF-8, as JSON must be (RFC 8259)] map[]"},
		{"com.example.http.slow", string(wamp.ErrTimeout), "[the HTTP callee did not answer in time] map[]"},
	} {
		_, err := ws.Call(t.Context(), tc.proc, nil, nil, nil)
		we, ok := err.(*client.Error)
		if !ok || string(we.URI) != tc.uri || fmt.Sprint(we.Args, we.Kwargs) != tc.says {
			t.Errorf("%s: %v", tc.proc, err)
		}
	}
}
