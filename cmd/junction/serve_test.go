package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // capacity 1, made by startServe: a write came
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// listenAddrRE finds each listener's address in the listening line's
// listen="127.0.0.1:40123 (ws://127.0.0.1:40123/ws + rawsocket), ...".
var listenAddrRE = regexp.MustCompile(`(?:listen="|, )(\S+) \(`)

// serveInProcess runs `junction serve` with args until ctx ends and
// returns the addresses of its listeners, in the order of the
// configuration, once its listening line says they are open (connections
// made from then on wait in the backlog until the router serves them).
// Listeners are given port 0 and the addresses read from the log: a port
// found free and handed to the router could be taken by another process
// in between, and a start slowed down by a loaded machine is waited for
// rather than raced by a bounded dial loop.
// serveUntilEnd is serveInProcess for the whole test: the router stops,
// and is waited for, when the test ends.
func serveUntilEnd(t *testing.T, args ...string) (addrs []string, logs *syncBuffer) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	addrs, logs, exit := serveInProcess(t, ctx, args...)
	t.Cleanup(func() {
		stop()
		<-exit
	})
	return addrs, logs
}

func serveInProcess(t *testing.T, ctx context.Context, args ...string) (addrs []string, logs *syncBuffer, exit <-chan int) {
	t.Helper()
	logs = &syncBuffer{changed: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"serve"}, args...), logs, logs) }()
	timeout := time.After(time.Minute)
	for {
		for _, line := range strings.Split(logs.String(), "\n") {
			if !strings.Contains(line, "junction listening") {
				continue
			}
			for _, m := range listenAddrRE.FindAllStringSubmatch(line, -1) {
				addrs = append(addrs, m[1])
			}
			if len(addrs) == 0 {
				t.Fatalf("no address in the listening line %q", line)
			}
			return addrs, logs, done
		}
		select {
		case <-logs.changed:
		case code := <-done:
			t.Fatalf("serve exited with %d before listening:\n%s", code, logs.String())
		case <-timeout:
			t.Fatalf("serve not listening after a minute:\n%s", logs.String())
		}
	}
}

// TestServeGracefulShutdown: `junction serve` logs where it listens, and on
// a signal (here: its context ending) every session gets GOODBYE
// wamp.close.system_shutdown before the process exits 0.
func TestServeGracefulShutdown(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addrs, logs, exit := serveInProcess(t, ctx, "--listen", "127.0.0.1:0")
	addr := addrs[0]

	var sessions []*client.Session
	for _, url := range []string{"ws://" + addr + "/ws", "rs://" + addr} {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := client.Dial(dctx, url, "realm1", nil)
		cancel()
		if err != nil {
			t.Fatalf("dial %s: %v\n%s", url, err, logs.String())
		}
		sessions = append(sessions, s)
	}
	if !strings.Contains(logs.String(), "junction listening") || !strings.Contains(logs.String(), "realms=realm1") {
		t.Fatalf("no listening line with the realms:\n%s", logs.String())
	}

	stop() // SIGINT/SIGTERM cancel this context in main
	for _, s := range sessions {
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("session not closed by the shutdown")
		}
		var ce *client.CloseError
		if !errors.As(s.Err(), &ce) || !ce.Goodbye || ce.Reason != wamp.CloseSystemShutdown {
			t.Fatalf("session ended with %v, want GOODBYE %s", s.Err(), wamp.CloseSystemShutdown)
		}
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit code %d\n%s", code, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still listening after shutdown")
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junction.yaml")
	os.WriteFile(path, []byte("limits:\n  max_msg_size: 1MiB\n"), 0o644)
	var out bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--config", path}, &out, &out); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if !strings.Contains(out.String(), "junction.yaml:2:3") || !strings.Contains(out.String(), `unknown key "max_msg_size"`) {
		t.Fatalf("error does not name file, line and key:\n%s", out.String())
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &out, &out); code != 0 || !strings.HasPrefix(out.String(), "junction ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"frobnicate"}, &out, &out); code != 2 || !strings.Contains(out.String(), "unknown command") {
		t.Fatalf("unknown command: %d %q", code, out.String())
	}
}
