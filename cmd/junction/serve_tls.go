package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/junction-wamp/junction/config"
	"github.com/junction-wamp/junction/internal/tlsfiles"
)

// listenerTLS is a TLS listener's certificate, key and client CAs, read
// from their files at start and again on reload (SIGHUP): see
// internal/tlsfiles.
type listenerTLS struct {
	*tlsfiles.Config
	// addr is the address the listener has (the configured one may have
	// port 0), for the log and the metrics.
	addr string
}

func newListenerTLS(l config.Listener) (*listenerTLS, error) {
	t := &listenerTLS{addr: l.Address}
	// t.addr is set once more, to the address bound, before any reload.
	files, err := tlsfiles.New(func() (*tls.Config, error) { return listenerConfig(l, t.addr) })
	if err != nil {
		return nil, err
	}
	t.Config = files
	return t, nil
}

// config is what the listener's server gets: each handshake asks for the
// configuration in use at that moment.
func (t *listenerTLS) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.Current(), nil
		},
	}
}

// listenerConfig reads the listener's files and makes the configuration
// of its handshakes; addr names the listener in errors.
func listenerConfig(l config.Listener, addr string) (*tls.Config, error) {
	lt := l.TLS
	cert, err := tlsfiles.LoadKeyPair(lt.CertFile, lt.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("listener %s: loading TLS certificate: %w", addr, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	switch lt.ClientAuth {
	case "request":
		cfg.ClientAuth = tls.RequestClientCert
	case "verify":
		pool, err := tlsfiles.LoadCAs(lt.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("listener %s: reading client_ca: %w", addr, err)
		}
		cfg.ClientAuth, cfg.ClientCAs = tls.VerifyClientCertIfGiven, pool
	}
	return cfg, nil
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
