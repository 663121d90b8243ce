package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestServeGracefulShutdown: `junction serve` logs where it listens, and on
// a signal (here: its context ending) every session gets GOODBYE
// wamp.close.system_shutdown before the process exits 0.
func TestServeGracefulShutdown(t *testing.T) {
	addr := freePort(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var logs syncBuffer
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, []string{"serve", "--listen", addr}, &logs, &logs) }()

	var sessions []*client.Session
	for _, url := range []string{"ws://" + addr + "/ws", "rs://" + addr} {
		var s *client.Session
		var err error
		for i := 0; i < 100; i++ {
			dctx, cancel := context.WithTimeout(context.Background(), time.Second)
			s, err = client.Dial(dctx, url, "realm1", nil)
			cancel()
			if err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
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
