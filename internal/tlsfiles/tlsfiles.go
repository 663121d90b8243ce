// Package tlsfiles keeps a TLS configuration made from certificate files
// and made again from them on demand: what a TLS listener and a cluster
// node's routes reload on SIGHUP. Certificates are renewed in place
// (certbot and the like replace the files every few weeks), and a router
// holding a fleet's connections should take the new one without dropping
// them: connections established keep the keys of their handshake, new
// handshakes get the configuration in use when they begin. A reload that
// fails (a missing file, a key that does not match) keeps what was in
// use, and is counted.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/internal/secfile"
)

// Config is a TLS configuration made from files, safe for concurrent use.
type Config struct {
	build func() (*tls.Config, error)
	fixed error
	cur   atomic.Pointer[tls.Config]
	// done and failed count the reloads.
	done, failed atomic.Uint64
}

// New makes the configuration with build, which reads the files and
// returns the configuration for new handshakes, the certificate in use
// first in its Certificates (with its Leaf, as LoadKeyPair gives it).
// build is called again by every Reload.
func New(build func() (*tls.Config, error)) (*Config, error) {
	c := &Config{build: build}
	cfg, err := build()
	if err != nil {
		return nil, err
	}
	c.cur.Store(cfg)
	return c, nil
}

// Fix makes every Reload from now on fail with err, keeping the
// configuration in use: for a certificate something else holds on to
// (nats-server staples an OCSP must-staple certificate from the files it
// started with). Call it before the Config is shared.
func (c *Config) Fix(err error) { c.fixed = err }

// Current is the configuration for a handshake that begins now.
func (c *Config) Current() *tls.Config { return c.cur.Load() }

// Certificate is the certificate in use.
func (c *Config) Certificate() *tls.Certificate { return &c.cur.Load().Certificates[0] }

// Reload makes the configuration again from the files. On failure the
// one in use stays. It returns the certificate in use.
func (c *Config) Reload() (*x509.Certificate, error) {
	err := c.fixed
	if err == nil {
		var cfg *tls.Config
		if cfg, err = c.build(); err == nil {
			c.cur.Store(cfg)
		}
	}
	if err != nil {
		c.failed.Add(1)
	} else {
		c.done.Add(1)
	}
	return c.Certificate().Leaf, err
}

// NotAfter is when the certificate in use expires.
func (c *Config) NotAfter() time.Time { return c.Certificate().Leaf.NotAfter }

// Reloads counts the reloads done and those that failed.
func (c *Config) Reloads() (done, failed uint64) { return c.done.Load(), c.failed.Load() }

// LoadCAs reads a file of PEM certificates into a pool: the CAs a
// listener verifies client certificates with, or a cluster's.
func LoadCAs(name string) (*x509.CertPool, error) {
	data, err := secfile.Read(name)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", name)
	}
	return pool, nil
}

// LoadKeyPair reads a certificate (PEM, the leaf first) and its key, as
// tls.LoadX509KeyPair does but through secfile: a name that is not a
// regular file (a FIFO, /dev/stdin) is refused instead of blocking the
// start or the reload.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := secfile.Read(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := secfile.Read(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("loading key pair %s and %s: %w", certFile, keyFile, err)
	}
	return pair, nil
}
