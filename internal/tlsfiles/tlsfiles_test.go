package tlsfiles

import (
	"crypto/tls"
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/junction-wamp/junction/internal/testcert"
)

// TestReload: a reload takes the files' new certificate; one that fails
// (a key of another certificate, a file gone) keeps the one in use; a
// fixed configuration refuses every reload; each is counted.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	write := func(p *testcert.Pair) (string, string) {
		t.Helper()
		c, k, err := p.WriteFiles(dir, "server")
		if err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	first := testcert.Must(t)
	certFile, keyFile := write(first)
	c, err := New(func() (*tls.Config, error) {
		pair, err := LoadKeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		return &tls.Config{Certificates: []tls.Certificate{pair}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	serial := func() string { return c.Certificate().Leaf.SerialNumber.String() }
	if serial() != first.Cert.Leaf.SerialNumber.String() {
		t.Fatal("not the certificate of the files")
	}

	second := testcert.Must(t)
	write(second)
	if leaf, err := c.Reload(); err != nil || leaf.SerialNumber.Cmp(second.Cert.Leaf.SerialNumber) != 0 || c.NotAfter() != second.Cert.Leaf.NotAfter {
		t.Fatalf("reload: %v, %v", leaf, err)
	}
	// A key that is not the certificate's: the second stays.
	other := testcert.Must(t)
	if err := os.WriteFile(keyFile, other.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reload(); err == nil || serial() != second.Cert.Leaf.SerialNumber.String() {
		t.Fatalf("a mismatched key: %v, in use %s", err, serial())
	}
	os.Remove(certFile)
	if _, err := c.Reload(); err == nil || serial() != second.Cert.Leaf.SerialNumber.String() {
		t.Fatalf("a file gone: %v", err)
	}
	if done, failed := c.Reloads(); done != 1 || failed != 2 {
		t.Errorf("Reloads = %d, %d; want 1, 2", done, failed)
	}

	write(first)
	fixed := errors.New("fixed")
	c.Fix(fixed)
	if _, err := c.Reload(); !errors.Is(err, fixed) || serial() != second.Cert.Leaf.SerialNumber.String() {
		t.Fatalf("a fixed configuration reloaded: %v", err)
	}
}

// TestLoadRefusesFIFO: a name that is not a regular file is refused, not
// read (a FIFO would block the start or the SIGHUP that reads it).
func TestLoadRefusesFIFO(t *testing.T) {
	fifo := t.TempDir() + "/cert.pem"
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyPair(fifo, fifo); err == nil {
		t.Fatal("a FIFO was taken as a certificate")
	}
	if _, err := LoadCAs(fifo); err == nil {
		t.Fatal("a FIFO was taken as CAs")
	}
}
