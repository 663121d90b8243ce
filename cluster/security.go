package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"

	"github.com/junction-wamp/junction/internal/secfile"
	"github.com/junction-wamp/junction/internal/tlsfiles"
)

// TLS names the PEM files of a node's TLS. With an embedded NATS server
// they secure its routes with mutual TLS: all three are required, every
// node presents CertFile and accepts only peers whose certificate CAFile
// issued (so a process without such a certificate cannot join), and a
// node dialling a route checks that the peer's certificate names the
// address it dialled (a join address, or the address a peer gossiped).
// With an existing NATS they are the client side: CAFile the CAs that
// issued the servers' certificates (the system's when empty), CertFile
// and KeyFile a client certificate for a NATS that asks for one.
type TLS struct {
	CertFile string // PEM certificate chain, leaf first
	KeyFile  string // PEM private key of CertFile
	CAFile   string // PEM CA certificates
}

// Problem is one problem with a node's TLS or credentials, at the setting
// it is about: Key is the config file's key under cluster ("tls.cert",
// "credentials", "route_user", ...), so that a config file can report it
// at its line.
type Problem struct {
	Key string
	Err error
}

// CheckSecurity checks c's TLS, credentials and route authorization
// against its mode (embedded server or existing NATS) and reads the files
// they name, so that a missing or broken file is reported before the node
// starts rather than on its first connection.
func CheckSecurity(c *Config) []Problem {
	var ps []Problem
	bad := func(key string, format string, args ...any) {
		ps = append(ps, Problem{key, fmt.Errorf(format, args...)})
	}
	embedded := c.Listen != ""
	if t := c.TLS; t != nil {
		if embedded {
			if t.CertFile == "" {
				bad("tls.cert", "route TLS needs this node's certificate")
			}
			if t.KeyFile == "" {
				bad("tls.key", "route TLS needs this node's private key")
			}
			if t.CAFile == "" {
				bad("tls.ca", "route TLS needs the CA that issued the nodes' certificates: it is how a node tells a peer from a stranger")
			}
		} else if (t.CertFile == "") != (t.KeyFile == "") {
			if t.CertFile == "" {
				bad("tls.cert", "a client key needs its certificate")
			} else {
				bad("tls.key", "a client certificate needs its private key")
			}
		}
		if t.CAFile != "" {
			if _, err := tlsfiles.LoadCAs(t.CAFile); err != nil {
				bad("tls.ca", "%v", err)
			}
		}
		switch {
		case t.CertFile != "" && t.KeyFile != "":
			if _, err := tlsfiles.LoadKeyPair(t.CertFile, t.KeyFile); err != nil {
				bad("tls.cert", "%v", err)
			}
		case t.CertFile != "":
			if _, err := secfile.Read(t.CertFile); err != nil {
				bad("tls.cert", "%v", err)
			}
		case t.KeyFile != "":
			if _, err := secfile.Read(t.KeyFile); err != nil {
				bad("tls.key", "%v", err)
			}
		}
	}
	if c.Credentials != "" {
		if embedded {
			bad("credentials", "a credentials file is for an existing NATS (nats); the embedded server's routes use tls or route_user and route_password")
		} else if err := checkCredentials(c.Credentials); err != nil {
			bad("credentials", "%v", err)
		}
	}
	if c.RouteUser != "" || c.RoutePassword != "" {
		switch {
		case !embedded:
			bad("route_user", "route_user and route_password authorize the embedded server's routes (listen); an existing NATS takes user:password in its URL or a credentials file")
		case c.RouteUser == "":
			bad("route_password", "route_password needs route_user")
		case c.RoutePassword == "":
			bad("route_user", "route_user needs route_password")
		}
	}
	return ps
}

// checkCredentials checks that a .creds file holds a user JWT and its
// nkey seed, as nats.UserCredentials reads it on every connection.
func checkCredentials(name string) error {
	data, err := secfile.Read(name)
	if err != nil {
		return err
	}
	tok, err := jwt.ParseDecoratedJWT(data)
	if err == nil {
		_, err = jwt.DecodeUserClaims(tok)
	}
	if err != nil {
		return fmt.Errorf("%s: no user JWT: %w", name, err)
	}
	kp, err := jwt.ParseDecoratedUserNKey(data)
	if err != nil {
		return fmt.Errorf("%s: no user nkey seed: %w", name, err)
	}
	kp.Wipe()
	return nil
}

// RouteTLS is the embedded server's route TLS: mutual, both ways checked
// against the cluster's CA. Its certificate and key are read again on
// Reload (SIGHUP), so that a renewed certificate is taken without a
// restart: routes handshaking from then on, accepted or dialled, present
// it (nats-server clones the configuration for each route it dials, and
// the clone asks for the certificate in use). The CA is read at start
// only: a CA that changes needs a rolling restart.
type RouteTLS struct {
	*tlsfiles.Config        // what an accepted route's handshake is given
	listen           string // the route address, set once the server listens
	pool             *x509.CertPool
	staple           bool // the certificate at start is must-staple: not reloaded
}

func newRouteTLS(t *TLS, listen string) (*RouteTLS, error) {
	pool, err := tlsfiles.LoadCAs(t.CAFile)
	if err != nil {
		return nil, fmt.Errorf("cluster: route TLS: %w", err)
	}
	files, err := tlsfiles.New(func() (*tls.Config, error) {
		pair, err := tlsfiles.LoadKeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cluster: route TLS: %w", err)
		}
		return &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{pair},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
		}, nil
	})
	if err != nil {
		return nil, err
	}
	r := &RouteTLS{Config: files, listen: listen, pool: pool, staple: mustStaple(files.Certificate().Leaf)}
	if r.staple {
		files.Fix(errMustStaple)
	}
	return r, nil
}

// config is the embedded server's Cluster.TLSConfig. A certificate that
// must be stapled (OCSP must-staple) gets the static configuration
// nats-server staples itself, and is not reloaded: nats-server's OCSP
// monitor sets its own certificate callbacks on it, which the reloading
// ones would bypass, serving no staple to peers that require one.
func (r *RouteTLS) config() *tls.Config {
	c := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{*r.Certificate()}, // with the callbacks, read by nats-server's monitoring only
		RootCAs:      r.pool,
		ClientCAs:    r.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
	if !r.staple {
		c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return r.Current(), nil }
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return r.Certificate(), nil }
	}
	return c
}

// errMustStaple refuses the reload of a must-staple route certificate.
var errMustStaple = errors.New("cluster: route TLS: a certificate with OCSP must-staple is stapled by nats-server from the files it started with, and is not reloaded: restart the node to renew it")

// mustStaple reports whether cert asks for OCSP stapling (RFC 7633's TLS
// feature status_request).
func mustStaple(cert *x509.Certificate) bool {
	tlsFeature := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}
	for _, ext := range cert.Extensions {
		var features []int
		if rest, err := asn1.Unmarshal(ext.Value, &features); !ext.Id.Equal(tlsFeature) || err != nil || len(rest) > 0 {
			continue
		}
		if slices.Contains(features, 5) { // status_request
			return true
		}
	}
	return false
}

// Listener names the routes, for the log and the metrics: "cluster" and
// the route address.
func (r *RouteTLS) Listener() string { return "cluster " + r.listen }

// routeURL is the URL of a route to join: with route authorization, the
// user and password this node presents.
func (c *Config) routeURL(addr string) *url.URL {
	u := &url.URL{Scheme: "nats-route", Host: addr}
	if c.RouteUser != "" {
		u.User = url.UserPassword(c.RouteUser, c.RoutePassword)
	}
	return u
}

// clientSecurity are the NATS client options for an existing NATS: TLS
// and a credentials file. nats.go reads the files again on every
// reconnection, so renewed certificates and credentials are picked up
// without a restart.
func (c *Config) clientSecurity() []nats.Option {
	var opts []nats.Option
	if t := c.TLS; t != nil {
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12}))
		if t.CAFile != "" {
			opts = append(opts, nats.RootCAs(t.CAFile))
		}
		if t.CertFile != "" {
			opts = append(opts, nats.ClientCert(t.CertFile, t.KeyFile))
		}
	}
	if c.Credentials != "" {
		opts = append(opts, nats.UserCredentials(c.Credentials))
	}
	return opts
}

// openRoutes reports whether the embedded server's routes accept any
// process that reaches them (no TLS, no route password) on an address
// that is not loopback: worth a warning at start.
func (c *Config) openRoutes() bool {
	if c.Listen == "" || c.TLS != nil || c.RouteUser != "" {
		return false
	}
	host, _, _ := splitHostPort(c.Listen)
	ip := net.ParseIP(host)
	return host != "localhost" && (ip == nil || !ip.IsLoopback())
}

// joinProblems joins CheckSecurity's problems into one error.
func joinProblems(ps []Problem) error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = fmt.Errorf("%s: %w", p.Key, p.Err)
	}
	return errors.Join(errs...)
}
