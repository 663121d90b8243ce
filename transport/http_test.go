package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// testMux is the Handler of the HTTP tests: it says what it got.
func testMux(streaming chan<- struct{}) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s %s", r.Method, r.URL.RequestURI())
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "plain %s to the WebSocket path", r.Method)
	})
	mux.HandleFunc("/wamp", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "plain %s to the WebSocket path", r.Method)
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		w.Write(b)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		streaming <- struct{}{}
		<-r.Context().Done() // until the server shuts down
	})
	return mux
}

// httpClient is an HTTP client of ts, its connections kept alive.
func (ts *testServer) httpClient(t *testing.T) (*http.Client, string) {
	t.Helper()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return ts.dialContext(ctx)
		},
		TLSClientConfig: clientTLS,
	}
	t.Cleanup(tr.CloseIdleConnections)
	scheme := "http"
	if ts.TLSConfig != nil {
		scheme = "https"
	}
	return &http.Client{Transport: tr, Timeout: ioTimeout}, scheme + "://localhost"
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// TestHTTPHandler serves plain HTTP next to WebSocket and RawSocket on one
// port, on both engines and over TLS: other paths and plain requests for
// the WebSocket path go to the Handler, upgrades to the router.
func TestHTTPHandler(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) {
			s.Handler = testMux(nil)
			s.HTTP.MaxBodyBytes = 1000
		})
		c, base := ts.httpClient(t)
		for range 2 { // the second on the kept-alive connection
			if code, body := get(t, c, base+"/hello?x=1"); code != 200 || body != "hello GET /hello?x=1" {
				t.Fatalf("GET /hello: %d %q", code, body)
			}
		}
		if code, body := get(t, c, base+"/ws"); code != 200 || body != "plain GET to the WebSocket path" {
			t.Fatalf("plain GET /ws: %d %q", code, body)
		}
		if code, _ := get(t, c, base+"/nothing/here"); code != 404 {
			t.Fatalf("GET /nothing/here: %d", code)
		}
		resp, err := c.Post(base+"/echo", "text/plain", strings.NewReader("ping"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ping" {
			t.Fatalf("POST /echo: %d %q", resp.StatusCode, b)
		}
		resp, err = c.Post(base+"/echo", "text/plain", strings.NewReader(strings.Repeat("x", 1001)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("POST /echo over MaxBodyBytes: %d", resp.StatusCode)
		}

		// WAMP on the same port.
		join(t, ts.dialWS(t, "wamp.2.json"))
		join(t, ts.dialRS(t, wamp.FormatCBOR))

		// A request that arrives a byte at a time is routed all the same.
		conn := ts.dial(t)
		for _, b := range []byte("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") {
			if _, err := conn.Write([]byte{b}); err != nil {
				t.Fatal(err)
			}
		}
		conn.SetReadDeadline(time.Now().Add(ioTimeout))
		resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "hello GET /hello" {
			t.Fatalf("byte by byte: %d %q", resp.StatusCode, b)
		}
	})
}

// TestHTTPWebSocketPath routes requests for the WebSocket path by their
// headers: an upgrade with a bad subprotocol is still the upgrader's to
// refuse, a POST is the Handler's.
func TestHTTPWebSocketPath(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) {
			s.Handler = testMux(nil)
			s.WebSocketPath = "/wamp"
		})
		if _, err := ts.tryWS(t, "mqtt", "/wamp", nil); err == nil || !strings.Contains(err.Error(), "400") {
			t.Fatalf("upgrade with a bad subprotocol: %v", err)
		}
		c, base := ts.httpClient(t)
		resp, err := c.Post(base+"/wamp", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "plain POST to the WebSocket path" {
			t.Fatalf("POST /wamp: %d %q", resp.StatusCode, b)
		}
		join(t, ts.dialWS(t, "wamp.2.msgpack"))
	})
}

// TestHTTPOnlyRawSocket serves every HTTP request with the Handler on a
// listener without WebSocket.
func TestHTTPOnlyRawSocket(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) {
			s.Handler = testMux(nil)
			s.RawSocket = true
		})
		c, base := ts.httpClient(t)
		if code, body := get(t, c, base+"/ws"); code != 200 || body != "plain GET to the WebSocket path" {
			t.Fatalf("GET /ws: %d %q", code, body)
		}
		join(t, ts.dialRS(t, wamp.FormatJSON))
	})
}

// TestHTTPMaxConns answers a connection beyond HTTP.MaxConns with 503 and
// serves again once one has closed.
func TestHTTPMaxConns(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) {
			s.Handler = testMux(nil)
			s.HTTP.MaxConns = 1
		})
		c, base := ts.httpClient(t)
		if code, _ := get(t, c, base+"/hello"); code != 200 {
			t.Fatalf("first connection: %d", code)
		}
		// The first connection is kept alive: a second is one too many.
		conn := ts.dial(t)
		fmt.Fprintf(conn, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(ioTimeout))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "at most 1 HTTP connections") {
			t.Fatalf("second connection: %d %q", resp.StatusCode, b)
		}
		c.Transport.(*http.Transport).CloseIdleConnections()
		eventually(t, "the first connection to close", func() bool {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			return ts.web.conns.Load() == 0
		})
		if code, _ := get(t, c, base+"/hello"); code != 200 {
			t.Fatalf("after the first closed: %d", code)
		}
	})
}

// TestHTTPSlowHeaders closes a connection whose request headers do not
// arrive within HTTP.ReadHeaderTimeout, after the handoff.
func TestHTTPSlowHeaders(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) {
			s.Handler = testMux(nil)
			s.HTTP.ReadHeaderTimeout = 50 * time.Millisecond
		})
		conn := ts.dial(t)
		fmt.Fprintf(conn, "GET /hello HTTP/1.1\r\nHost: x\r\n") // and never the end
		conn.SetReadDeadline(time.Now().Add(ioTimeout))
		if _, err := io.ReadAll(conn); err != nil && !isReset(err) {
			t.Fatalf("the connection was not closed: %v", err)
		}
	})
}

// TestHTTPShutdown ends a streaming request when the server shuts down,
// and leaves no goroutine behind (startServer checks).
func TestHTTPShutdown(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		streaming := make(chan struct{}, 1)
		ts := m.start(t, func(s *Server) { s.Handler = testMux(streaming) })
		c, base := ts.httpClient(t)
		resp, err := c.Get(base + "/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		<-streaming
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := ts.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if _, err := io.ReadAll(resp.Body); err != nil {
			t.Fatalf("the stream did not end cleanly: %v", err)
		}
	})
}

// TestHTTPNoHandler keeps the WebSocket upgrader's answers when there is
// no Handler: 404 for another path, and a plain GET of the WebSocket path
// refused.
func TestHTTPNoHandler(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		for path, want := range map[string]string{"/metrics": "HTTP/1.1 404 ", "/ws": "HTTP/1.1 4"} {
			conn := ts.dial(t)
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
			conn.SetReadDeadline(time.Now().Add(ioTimeout))
			b, _ := io.ReadAll(conn)
			if !strings.HasPrefix(string(b), want) {
				t.Fatalf("GET %s: %q", path, b)
			}
		}
	})
}
