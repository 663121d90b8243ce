package transport

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// sClientOut collects what openssl s_client prints.
type sClientOut struct {
	chunks chan []byte
	seen   []byte
}

// waitFor reads s_client's output until it holds want.
func (o *sClientOut) waitFor(t *testing.T, want string) {
	t.Helper()
	for !bytes.Contains(o.seen, []byte(want)) {
		b, ok := <-o.chunks
		if !ok {
			t.Fatalf("s_client ended without printing %q; it printed %q", want, o.seen)
		}
		o.seen = append(o.seen, b...)
	}
}

// startSClient runs openssl s_client (at path) with args against addr
// and returns its stdin and its output; the test's end closes its stdin
// and waits for it to exit.
func startSClient(t *testing.T, path, addr string, args ...string) (io.WriteCloser, *sClientOut) {
	t.Helper()
	// A bound on a stuck client, not a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, path, append([]string{"s_client", "-connect", addr}, args...)...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := &sClientOut{chunks: make(chan []byte, 64)}
	go func() {
		for {
			b := make([]byte, 4096)
			n, err := stdout.Read(b)
			if n > 0 {
				out.chunks <- b[:n]
			}
			if err != nil {
				close(out.chunks)
				return
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		for range out.chunks {
		}
		if err := cmd.Wait(); err != nil && !t.Failed() {
			t.Logf("s_client: %v: %s", err, stderr.String())
		}
		cancel()
	})
	return stdin, out
}

// TestOpenSSLClient: openssl s_client, TLS 1.2 and 1.3, joins over a
// WebSocket upgrade and over RawSocket, on both engines, and closes with
// close_notify.
func TestOpenSSLClient(t *testing.T) {
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	hello := &wamp.Hello{Realm: "realm1", Details: clientRoles}
	forEngines(t, func(t *testing.T, engine string) {
		for _, vers := range []string{"-tls1_2", "-tls1_3"} {
			for _, proto := range []string{"websocket", "rawsocket"} {
				t.Run(vers[1:]+"/"+proto, func(t *testing.T) {
					ts := startServer(t, engine, func(s *Server) { s.TLSConfig = serverTLS })
					stdin, out := startSClient(t, path, ts.addr, vers, "-no_ign_eof")
					if proto == "websocket" {
						io.WriteString(stdin, "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
							"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n")
						out.waitFor(t, "HTTP/1.1 101")
						stdin.Write(wsFrame(t, codec.JSON, hello))
					} else {
						stdin.Write(append([]byte{0x7f, 0xf1, 0, 0}, rsFrame(t, codec.JSON, hello)...))
					}
					out.waitFor(t, fmt.Sprintf("[%d,", wamp.TypeWelcome))
					stdin.Close() // s_client sends close_notify; the server closes
					eventually(t, "the session to end", func() bool { return ts.Router.Stats().Sessions == 0 })
				})
			}
		}
	})
}

// TestOpenSSLKeyUpdate: in TLS 1.3, openssl s_client asks for a KeyUpdate
// (its K command, update_requested) in the middle of a RawSocket session:
// the server takes the client's new key, answers with a KeyUpdate of its
// own before its next record, and the session goes on under the new keys
// both ways; on both engines.
func TestOpenSSLKeyUpdate(t *testing.T) {
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	hello := &wamp.Hello{Realm: "realm1", Details: clientRoles}
	forEngines(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, func(s *Server) { s.TLSConfig = serverTLS })
		// -msg: s_client prints the handshake messages it sends and
		// receives, so the test knows when its K was taken (s_client
		// would take the next frame as part of the command line otherwise).
		stdin, out := startSClient(t, path, ts.addr, "-tls1_3", "-no_ign_eof", "-msg")
		stdin.Write(append([]byte{0x7f, 0xf1, 0, 0}, rsFrame(t, codec.JSON, hello)...))
		out.waitFor(t, fmt.Sprintf("[%d,", wamp.TypeWelcome))
		io.WriteString(stdin, "K\n")
		out.waitFor(t, ">>> TLS 1.3, Handshake [length 0005], KeyUpdate")
		stdin.Write(rsFrame(t, codec.JSON, &wamp.Subscribe{Request: 7, Topic: "com.test.keys"}))
		out.waitFor(t, "<<< TLS 1.3, Handshake [length 0005], KeyUpdate")
		out.waitFor(t, fmt.Sprintf("[%d,7,", wamp.TypeSubscribed))
		stdin.Close() // s_client sends close_notify; the server closes
		eventually(t, "the session to end", func() bool { return ts.Router.Stats().Sessions == 0 })
	})
}
