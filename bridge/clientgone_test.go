package bridge_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/internal/testwait"
	"github.com/junction-wamp/junction/wamp"
)

// TestCallClientLeft: an HTTP client that closes its connection while its
// call is in flight is counted as such (ClientClosed, nginx's 499), not as
// a failure of the bridge, and its call is canceled: the router gets
// CANCEL and the callee is interrupted instead of working for nobody.
// Plain and streamed (after the first progressive result).
func TestCallClientLeft(t *testing.T) {
	for _, accept := range []string{"", "application/x-ndjson"} {
		t.Run(fmt.Sprintf("accept=%q", accept), func(t *testing.T) {
			s := start(t, nil)
			invoked := make(chan struct{}, 1)
			interrupted := make(chan error, 1)
			if _, err := s.ws(t).Register(t.Context(), "com.example.wait", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
				if accept != "" {
					if err := inv.SendProgress(ctx, wamp.List{"started"}, nil); err != nil {
						return nil, err
					}
				}
				invoked <- struct{}{}
				<-ctx.Done() // only the call's end (INTERRUPT, the router's timeout) ends it
				interrupted <- ctx.Err()
				return nil, ctx.Err()
			}, nil); err != nil {
				t.Fatal(err)
			}

			ctx, leave := context.WithCancel(t.Context())
			defer leave()
			body := `{"procedure": "com.example.wait"}`
			if accept != "" {
				body = `{"procedure": "com.example.wait", "options": {"receive_progress": true}}`
			}
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+s.addr+"/call", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			answered := make(chan error, 1)
			go func() {
				resp, err := tr.RoundTrip(req)
				if err == nil {
					// Streamed: the first progressive result came.
					_, err = bufio.NewReader(resp.Body).ReadString('\n')
					answered <- err
					<-ctx.Done()
					resp.Body.Close()
					return
				}
				answered <- err
			}()
			within(t, invoked, "the invocation")
			if accept != "" {
				if err := within(t, answered, "the first progressive result"); err != nil {
					t.Fatalf("reading the stream: %v", err)
				}
			}
			leave() // the client goes away mid-call: its connection closes
			if err := within(t, interrupted, "the callee's interruption"); !errors.Is(err, context.Canceled) {
				t.Errorf("the callee's context ended with %v, want canceled (INTERRUPT)", err)
			}
			testwait.True(t, ioTimeout, "the bridge to count the request", func() bool {
				st := s.b.Stats()
				return st.Calls+st.Refused+st.Failed+st.ClientClosed > 0
			})
			if st := s.b.Stats(); st.ClientClosed != 1 || st.Failed != 0 || st.Refused != 0 || st.Calls != 0 {
				t.Errorf("stats %+v, want the one request counted as ClientClosed", st)
			}
			if n := s.rt.Stats().CallCancels; n != 1 {
				t.Errorf("the router counted %d CANCELs, want 1", n)
			}
		})
	}
}
