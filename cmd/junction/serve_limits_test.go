package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/wamp"
)

// TestServeMemoryLimits: limits.max_pre_welcome_message_size and
// limits.max_partial_bytes reach the listeners. A client that has not
// joined is refused a message over the pre-WELCOME limit from its header;
// a joined client's message that does not fit in what other connections
// leave of max_partial_bytes is refused too.
func TestServeMemoryLimits(t *testing.T) {
	addr := "127.0.0.1:0" // the listening line says which port
	path := filepath.Join(t.TempDir(), "junction.yaml")
	cfg := strings.Join([]string{
		"listeners:",
		"  - address: " + addr,
		"limits:",
		"  max_message_size: 1MiB",
		"  max_pre_welcome_message_size: 1KiB",
		"  max_partial_bytes: 1MiB",
	}, "\n")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	addrs, logs, exit := serveInProcess(t, ctx, "--config", path)
	addr = addrs[0]
	var conns []net.Conn
	defer func() {
		// A client in the middle of a message does not answer the
		// router's GOODBYE: close them all first.
		for _, c := range conns {
			c.Close()
		}
		stop()
		if code := <-exit; code != 0 {
			t.Errorf("serve exited %d:\n%s", code, logs.String())
		}
	}()

	// rs opens a RawSocket connection (JSON), and says HELLO with join.
	rs := func(join bool) net.Conn {
		t.Helper()
		var c net.Conn
		var err error
		for range 100 {
			if c, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("dial: %v\n%s", err, logs.String())
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte{rawsocket.Magic, 0xf0 | byte(wamp.FormatJSON), 0, 0})
		var reply [4]byte
		if _, err := io.ReadFull(c, reply[:]); err != nil {
			t.Fatalf("handshake: %v", err)
		}
		if join {
			hello := []byte(`[1,"realm1",{"roles":{"publisher":{}}}]`)
			c.Write(rawsocket.AppendFrame(nil, rawsocket.TypeMessage, hello))
			if m := readMessage(t, c); !strings.HasPrefix(m, "[2,") {
				t.Fatalf("got %s, want WELCOME", m)
			}
		}
		return c
	}
	// abort expects an ABORT whose message contains want.
	abort := func(c net.Conn, want string) {
		t.Helper()
		m := readMessage(t, c)
		var a []any
		if err := json.Unmarshal([]byte(m), &a); err != nil || len(a) < 3 || a[0] != float64(wamp.TypeAbort) {
			t.Fatalf("got %s, want ABORT", m)
		}
		if !strings.Contains(m, want) {
			t.Fatalf("ABORT %s does not say %q", m, want)
		}
	}

	c := rs(false)
	c.Write(rawsocket.AppendHeader(nil, rawsocket.TypeMessage, 2048))
	abort(c, "larger than the 1024 bytes allowed before WELCOME")

	// Two joined clients each start a 600 KiB message: one of them (the
	// one whose header the router reads second) does not fit.
	first := make(chan string, 2)
	for range 2 {
		c := rs(true)
		c.Write(rawsocket.AppendHeader(nil, rawsocket.TypeMessage, 600<<10))
		c.Write(make([]byte, 1000))
		go func() {
			m, err := nextMessage(c)
			if err != nil {
				m = err.Error()
			}
			first <- m
		}()
	}
	if m := <-first; !strings.HasPrefix(m, "[3,") || !strings.Contains(m, "router busy") {
		t.Fatalf("got %s, want ABORT router busy", m)
	}
}

// readMessage reads one RawSocket message frame and returns its payload.
func readMessage(t *testing.T, c net.Conn) string {
	t.Helper()
	m, err := nextMessage(c)
	if err != nil {
		t.Fatalf("reading a message: %v", err)
	}
	return m
}

func nextMessage(c net.Conn) (string, error) {
	for {
		var h [4]byte
		if _, err := io.ReadFull(c, h[:]); err != nil {
			return "", err
		}
		hd, err := rawsocket.ParseHeader(h[:])
		if err != nil {
			return "", err
		}
		p := make([]byte, hd.Length)
		if _, err := io.ReadFull(c, p); err != nil {
			return "", err
		}
		if hd.Type == rawsocket.TypeMessage {
			return string(p), nil
		}
	}
}
