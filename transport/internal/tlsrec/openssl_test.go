package tlsrec

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// sClient is an openssl s_client talking to an echo server, driven line
// by line (its commands included: K and k send a KeyUpdate, R
// renegotiates).
type sClient struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

func startSClient(t *testing.T, addr string, args ...string) *sClient {
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	// A bound on a stuck client, not a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	args = append([]string{"s_client", "-connect", addr, "-CAfile", writeCA(t), "-verify_return_error", "-verify_ip", "127.0.0.1", "-no_ign_eof"}, args...)
	cmd := exec.CommandContext(ctx, path, args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &sClient{t: t, cmd: cmd, in: in, lines: make(chan string, 100)}
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			c.lines <- s.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		in.Close()
		if err := cmd.Wait(); err != nil && !t.Failed() {
			t.Logf("openssl s_client: %v; stderr: %s", err, stderr.String())
		}
	})
	return c
}

// send writes a line to s_client.
func (c *sClient) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		c.t.Fatalf("writing to s_client: %v", err)
	}
}

// expect waits for a line s_client printed.
func (c *sClient) expect(want string) {
	c.t.Helper()
	for l := range c.lines {
		if l == want {
			return
		}
	}
	c.t.Fatalf("s_client ended without printing %q", want)
}

// TestOpenSSLClient: openssl s_client with each TLS 1.3 suite and some
// TLS 1.2 ones; in TLS 1.3 it sends KeyUpdates (asking for ours with K),
// which the record layer takes and answers.
func TestOpenSSLClient(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		vers  uint16
		suite uint16
	}{
		{"TLS13_AES128", []string{"-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"}, tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256},
		{"TLS13_AES256", []string{"-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"}, tls.VersionTLS13, tls.TLS_AES_256_GCM_SHA384},
		{"TLS13_CHACHA20", []string{"-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"}, tls.VersionTLS13, tls.TLS_CHACHA20_POLY1305_SHA256},
		{"TLS12_ECDSA_AES256", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"}, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		{"TLS12_RSA_AES128", []string{"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"}, tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
		{"TLS12_RSA_CHACHA20", []string{"-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"}, tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			ln := listen(t)
			done := echoServer(t, ln, mustConfig(t, serverConfig()))
			// -msg: s_client prints the handshake messages it sends and
			// receives, so the test knows when a command was taken (s_client
			// reads a command and the next line in one read otherwise).
			c := startSClient(t, ln.Addr().String(), append(tt.args, "-msg")...)
			c.send("ping1")
			c.expect("ping1")
			if tt.vers == tls.VersionTLS13 {
				c.send("K") // KeyUpdate, update_requested
				c.expect(">>> TLS 1.3, Handshake [length 0005], KeyUpdate")
				c.send("ping2")
				c.expect("<<< TLS 1.3, Handshake [length 0005], KeyUpdate") // ours, before the echo
				c.expect("ping2")
				c.send("k") // KeyUpdate, update_not_requested
				c.expect(">>> TLS 1.3, Handshake [length 0005], KeyUpdate")
				c.send("ping3")
				c.expect("ping3")
			}
			c.in.Close() // s_client sends close_notify
			er := <-done
			if !errors.Is(er.err, ErrCloseNotify) {
				t.Fatalf("the server ended with %v", er.err)
			}
			if v, s := er.res.Conn.Version(), er.res.Conn.CipherSuite(); v != tt.vers || s != tt.suite {
				t.Fatalf("negotiated %s %s", tls.VersionName(v), tls.CipherSuiteName(s))
			}
			if tt.vers == tls.VersionTLS13 {
				if er.keyUpdate != 1 {
					t.Fatalf("%d KeyUpdates asked for ours, want 1", er.keyUpdate)
				}
				// Both updates were taken: "ping3" and close_notify are
				// the records under the last key.
				if er.res.Conn.in.seq != 2 {
					t.Fatalf("read sequence number %d at the end, want 2", er.res.Conn.in.seq)
				}
			}
		})
	}
}

// TestOpenSSLRenegotiation: a TLS 1.2 renegotiation (s_client's R) is
// refused with no_renegotiation and the connection ends.
func TestOpenSSLRenegotiation(t *testing.T) {
	ln := listen(t)
	done := echoServer(t, ln, mustConfig(t, serverConfig()))
	c := startSClient(t, ln.Addr().String(), "-tls1_2")
	c.send("ping")
	c.expect("ping")
	c.send("R")
	er := <-done
	var ae *AlertError
	if !errors.As(er.err, &ae) || ae.Remote || ae.Alert != AlertNoRenegotiation {
		t.Fatalf("the server ended with %v, want a no_renegotiation alert", er.err)
	}
}
