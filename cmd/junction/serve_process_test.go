package main

// `junction serve` as a process: the shipped example config, and what
// signals do to a router with a client that never answers GOODBYE.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/junction-wamp/junction/client"
)

// serveProc is a running `junction serve` with its log (stderr).
type serveProc struct {
	cmd *exec.Cmd

	mu      sync.Mutex
	log     []string
	changed chan struct{} // closed and replaced when a line comes or the log ends
	ended   bool

	exited chan struct{} // closed once the process is waited for
	code   int           // exit status, valid after exited
}

// startServe runs the binary with args in dir (the test's temporary
// directory when empty) and env added to the environment. Cleanup kills
// it if it still runs and waits for it.
func startServe(t *testing.T, dir string, env []string, args ...string) *serveProc {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	p := &serveProc{changed: make(chan struct{}), exited: make(chan struct{})}
	p.cmd = exec.Command(junctionBin(t), append([]string{"serve"}, args...)...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log = append(p.log, sc.Text())
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		p.mu.Lock()
		p.ended = true
		close(p.changed)
		p.mu.Unlock()
		err := p.cmd.Wait() // after the pipe is read to its end
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitLog waits for a log line containing substr and returns it.
func (p *serveProc) waitLog(t *testing.T, substr string) string {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for seen := 0; ; {
		p.mu.Lock()
		lines, ended, changed := p.log, p.ended, p.changed
		p.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if strings.Contains(lines[seen], substr) {
				return lines[seen]
			}
		}
		if ended {
			t.Fatalf("serve ended without logging %q:\n%s", substr, p.logText())
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("serve did not log %q:\n%s", substr, p.logText())
		}
	}
}

func (p *serveProc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.log, "\n")
}

// wait returns the exit status.
func (p *serveProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not exit:\n%s", p.logText())
	}
	return 0
}

func (p *serveProc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// address waits for the start and returns where the first listener is.
func (p *serveProc) address(t *testing.T) string {
	t.Helper()
	m := listenAddrRE.FindStringSubmatch(p.waitLog(t, "junction listening"))
	if m == nil {
		t.Fatalf("no address in the listening line:\n%s", p.logText())
	}
	return m[1]
}

// straggler joins realm1 over a WebSocket and then reads nothing, so it
// never answers the router's GOODBYE. It returns its session id and its
// connection's local address (the router's remote address of it).
func straggler(t *testing.T, addr string) (uint64, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, _, err := ws.Dialer{Protocols: []string{"wamp.2.json"}}.Dial(ctx, "ws://"+addr+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := wsutil.WriteClientText(conn, []byte(`[1,"realm1",{"roles":{"subscriber":{}}}]`)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	msg, err := wsutil.ReadServerText(conn)
	if err != nil {
		t.Fatal(err)
	}
	var session uint64
	if _, err := fmt.Sscanf(string(msg), "[2,%d,", &session); err != nil {
		t.Fatalf("want WELCOME, got %s", msg)
	}
	return session, conn.LocalAddr().String()
}

// TestServeStragglerExitsClean: SIGTERM with a client that never answers
// GOODBYE waits the configured time, closes it, logs who it was, and exits
// 0: the router did what it was asked.
func TestServeStragglerExitsClean(t *testing.T) {
	p := startServe(t, "", nil, "--listen", "127.0.0.1:0", "--shutdown-timeout", "100ms")
	addr := p.address(t)
	session, remote := straggler(t, addr)
	p.signal(t, syscall.SIGTERM)
	line := p.waitLog(t, "no answer to GOODBYE")
	for _, want := range []string{"level=WARN", fmt.Sprintf("session=%d", session), "remote=" + remote, "realm=realm1", "authid="} {
		if !strings.Contains(line, want) {
			t.Errorf("straggler log line %q lacks %q", line, want)
		}
	}
	if code := p.wait(t); code != 0 {
		t.Errorf("exit status %d, want 0:\n%s", code, p.logText())
	}
	if log := p.logText(); strings.Contains(log, "level=ERROR") || !strings.Contains(log, "shutdown_timeout=100ms") {
		t.Errorf("log:\n%s", log)
	}
}

// TestServeSecondSignal: a second signal stops at once, while the first
// one's wait (an hour here) is still running.
func TestServeSecondSignal(t *testing.T) {
	p := startServe(t, "", nil, "--listen", "127.0.0.1:0", "--shutdown-timeout", "1h")
	straggler(t, p.address(t))
	p.signal(t, syscall.SIGTERM)
	p.waitLog(t, "shutting down")
	p.signal(t, os.Interrupt)
	if code := p.wait(t); code != 1 {
		t.Errorf("exit status %d, want 1:\n%s", code, p.logText())
	}
	if log := p.logText(); !strings.Contains(log, "junction: second signal (interrupt): exiting at once") {
		t.Errorf("log:\n%s", log)
	}
}

// snapshot lists the files under dir with their sizes and times.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %v\n", path, fi.Size(), fi.ModTime())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestServeExampleConfig starts the shipped config/example.yaml as it is,
// from an empty working directory, with only the first listener's address
// replaced (a free port instead of 8080): it serves on both listeners,
// writes only under $TMPDIR, and nothing into the source tree.
func TestServeExampleConfig(t *testing.T) {
	example, err := filepath.Abs("../../config/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	configDir := filepath.Dir(example)
	before := snapshot(t, configDir)
	work, tmp := t.TempDir(), t.TempDir()
	p := startServe(t, work, []string{"TMPDIR=" + tmp}, "--config", example, "--listen", "127.0.0.1:0")
	addr := p.address(t)
	for _, url := range []string{"ws://" + addr + "/ws", "unix://" + filepath.Join(tmp, "junction.sock")} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := client.Dial(ctx, url, "realm1", nil)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v\n%s", url, err, p.logText())
		}
		closeSession(s)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit status %d:\n%s", code, p.logText())
	}
	if after := snapshot(t, configDir); after != before {
		t.Errorf("serve changed the source tree:\nbefore\n%s\nafter\n%s", before, after)
	}
	if entries, _ := os.ReadDir(work); len(entries) > 0 {
		t.Errorf("serve wrote into its working directory: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(tmp, "junction-history.db")); err != nil {
		t.Errorf("the history store is not under $TMPDIR: %v", err)
	}
}

// TestServeFailedStartLeavesNoStore: a start that fails on a listener
// creates no history file.
func TestServeFailedStartLeavesNoStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "junction.yaml")
	yaml := "listeners:\n  - address: 127.0.0.1:0\n  - address: unix:no-such-dir/junction.sock\n" +
		"realms:\n  - name: realm1\n    history: [{topic: a, limit: 10}]\nstore:\n  path: history.db\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--config", path}, &out, &out); code != 1 || !strings.Contains(out.String(), "no-such-dir") {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "history.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed start left the history store: %v", err)
	}
}

// TestServeListenUnix runs the README's --listen unix:PATH.
func TestServeListenUnix(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "junction.sock")
	p := startServe(t, "", nil, "--listen", "unix:"+sock)
	if addr := p.address(t); addr != "unix:"+sock {
		t.Errorf("listening on %s, want unix:%s", addr, sock)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := client.Dial(ctx, "unix://"+sock, "realm1", nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.logText())
	}
	closeSession(s)
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.logText())
	}
}
