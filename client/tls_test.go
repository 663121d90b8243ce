package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/internal/testcert"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/wamp"
)

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	p := testcert.Must(t)
	return p.Cert, p.Pool
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	r, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &transport.Server{Router: r, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { srv.Serve(ln); close(served) }()
	defer func() { srv.Close(); <-served }()

	ctx := ctxT(t)
	for _, url := range []string{"wss://" + ln.Addr().String() + "/ws", "rss://" + ln.Addr().String()} {
		s, err := client.Dial(ctx, url, "realm1", &client.Options{Serializer: wamp.FormatMsgPack, TLSConfig: &tls.Config{RootCAs: pool}})
		if err != nil {
			t.Errorf("%s: %v", url, err)
			continue
		}
		if _, err := s.Register(ctx, "test.tls", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
			return &client.Result{Args: inv.Args}, nil
		}, nil); err != nil {
			t.Error(err)
		}
		res, err := s.Call(ctx, "test.tls", wamp.List{[]byte("secret")}, nil, nil)
		if err != nil || string(res.Args[0].([]byte)) != "secret" {
			t.Errorf("%s: call over TLS: %v", url, err)
		}
		if err := s.Close(ctx); err != nil {
			t.Errorf("%s: close: %v", url, err)
		}
		// Without the root, the handshake fails.
		if _, err := client.Dial(ctx, url, "realm1", nil); err == nil {
			t.Errorf("%s: dial trusted a self-signed certificate", url)
		}
	}
}
