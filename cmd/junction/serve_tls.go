package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/config"
)

// listenerTLS is a TLS listener's certificate, key and client CAs, read
// from their files at start and again on reload (SIGHUP). Certificates
// are renewed in place (certbot and the like replace the files every
// few weeks), and a router holding a fleet's connections should take
// the new one without dropping them: connections established keep the
// keys of their handshake, new handshakes get the files' latest. A
// reload that fails (a missing file, a key that does not match) keeps
// what the listener had and says why.
type listenerTLS struct {
	l config.Listener
	// addr is the address the listener has (the configured one may have
	// port 0), for the log and the metrics.
	addr string
	cur  atomic.Pointer[tls.Config]
	// notAfter is when the leaf certificate in use expires, Unix seconds.
	notAfter         atomic.Int64
	reloads, refused atomic.Uint64
}

func newListenerTLS(l config.Listener) (*listenerTLS, error) {
	t := &listenerTLS{l: l, addr: l.Address}
	if err := t.load(); err != nil {
		return nil, err
	}
	return t, nil
}

// config is what the listener's server gets: each handshake asks for the
// configuration in use at that moment.
func (t *listenerTLS) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.cur.Load(), nil
		},
	}
}

// load reads the files and makes them the configuration of new
// handshakes.
func (t *listenerTLS) load() error {
	l := t.l.TLS
	cert, err := tls.LoadX509KeyPair(l.CertFile, l.KeyFile)
	if err != nil {
		return fmt.Errorf("listener %s: loading TLS certificate: %w", t.addr, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	switch l.ClientAuth {
	case "request":
		cfg.ClientAuth = tls.RequestClientCert
	case "verify":
		pem, err := os.ReadFile(l.ClientCA)
		if err != nil {
			return fmt.Errorf("listener %s: reading client_ca: %w", t.addr, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("listener %s: client_ca %s holds no PEM certificate", t.addr, l.ClientCA)
		}
		cfg.ClientAuth, cfg.ClientCAs = tls.VerifyClientCertIfGiven, pool
	}
	t.cur.Store(cfg)
	t.notAfter.Store(cert.Leaf.NotAfter.Unix())
	return nil
}

// Reload loads the files again, counted; on failure the listener keeps
// what it had. It returns the certificate in use.
func (t *listenerTLS) Reload() (*x509.Certificate, error) {
	if err := t.load(); err != nil {
		t.refused.Add(1)
		return t.cur.Load().Certificates[0].Leaf, err
	}
	t.reloads.Add(1)
	return t.cur.Load().Certificates[0].Leaf, nil
}

// expiryWarning is how long before its certificate expires a listener
// says so at start and reload: a renewal that failed quietly (certbot's
// timer, a hook that did not send SIGHUP) shows in the log before the
// clients' handshakes fail.
const expiryWarning = 14 * 24 * time.Hour

// warnExpiry logs a warning when the certificate in use of f expires
// within expiryWarning of now, an error when it has expired.
func warnExpiry(log *slog.Logger, f certFiles, now time.Time) {
	notAfter := f.NotAfter()
	switch left := notAfter.Sub(now); {
	case left <= 0:
		log.Error("the TLS certificate has expired: clients that check it refuse the handshake", "listener", f.Listener(),
			"not_after", notAfter.UTC().Format(time.RFC3339))
	case left < expiryWarning:
		log.Warn("the TLS certificate expires soon: renew it, then send SIGHUP", "listener", f.Listener(),
			"not_after", notAfter.UTC().Format(time.RFC3339), "days_left", int(left.Hours()/24))
	}
}

// Listener implements metrics.TLSFiles.
func (t *listenerTLS) Listener() string { return t.addr }

// NotAfter implements metrics.TLSFiles.
func (t *listenerTLS) NotAfter() time.Time { return time.Unix(t.notAfter.Load(), 0) }

// Reloads implements metrics.TLSFiles.
func (t *listenerTLS) Reloads() (done, failed uint64) { return t.reloads.Load(), t.refused.Load() }

// certFiles are certificate files the router reads again on SIGHUP: a
// TLS listener's (listenerTLS) or the cluster routes'
// (cluster.RouteTLS). Reload reads them, counted in Reloads, and returns
// the certificate in use; on failure the old one stays.
type certFiles interface {
	Listener() string
	NotAfter() time.Time
	Reloads() (done, failed uint64)
	Reload() (*x509.Certificate, error)
}

// reloadTLS reloads every one of files and logs what came of each.
func reloadTLS(files []certFiles, log *slog.Logger) error {
	var errs []error
	now := time.Now()
	for _, f := range files {
		leaf, err := f.Reload()
		if err != nil {
			log.Error("TLS files not reloaded: the listener keeps its certificate", "listener", f.Listener(), "err", err)
			errs = append(errs, err)
			continue
		}
		log.Info("TLS files reloaded", "listener", f.Listener(), "subject", leaf.Subject.String(),
			"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
		warnExpiry(log, f, now)
	}
	return errors.Join(errs...)
}
