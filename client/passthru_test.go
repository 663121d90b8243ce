package client_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// TestPayloadPassthru: sessions that announce payload passthru mode call,
// answer and publish with ppt_* options, which the router forwards with
// the payload as it is; a session that did not announce it receives none
// of it, and refuses to send it before the router would end the session.
func TestPayloadPassthru(t *testing.T) {
	tr := startRouter(t)
	ctx := ctxT(t)
	dialPPT := func(url string, ppt bool) *client.Session {
		s, err := client.Dial(ctx, url, "realm1", &client.Options{Serializer: wamp.FormatCBOR, PayloadPassthru: ppt})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		return s
	}
	a, b := dialPPT(tr.rs, true), dialPPT(tr.ws, true)
	plain := dialPPT(tr.rs, false)
	e2e := client.Passthru{Scheme: "x_test", Serializer: "cbor", Cipher: "xsalsa20poly1305", KeyID: "k1"}
	blob := []byte{0xde, 0xad, 0xbe, 0xef}

	// RPC: CALL -> INVOCATION -> YIELD -> RESULT, each with the ppt_* options.
	if _, err := b.Register(ctx, "test.ppt.echo", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		if got := client.PassthruOf(inv.Details); got != e2e {
			return nil, &client.Error{URI: "test.error.no_passthru", Args: wamp.List{inv.Details}}
		}
		return &client.Result{Args: inv.Args, Details: client.Passthru{Scheme: "x_test", Serializer: "cbor", KeyID: "k2"}.Dict()}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	res, err := a.Call(ctx, "test.ppt.echo", wamp.List{blob}, nil, client.CallOptions{Passthru: e2e}.Dict())
	if err != nil {
		t.Fatal(err)
	}
	if got := client.PassthruOf(res.Details); got != (client.Passthru{Scheme: "x_test", Serializer: "cbor", KeyID: "k2"}) {
		t.Errorf("RESULT passthru %+v (details %v)", got, res.Details)
	}
	if got, _ := res.Args[0].([]byte); !bytes.Equal(got, blob) {
		t.Errorf("RESULT args %v", res.Args)
	}
	// A callee that did not announce the mode is not invoked with it.
	if _, err := plain.Register(ctx, "test.ppt.plain", func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	var we *client.Error
	if _, err := a.Call(ctx, "test.ppt.plain", wamp.List{blob}, nil, client.CallOptions{Passthru: e2e}.Dict()); !errors.As(err, &we) || we.URI != wamp.ErrFeatureNotSupported {
		t.Errorf("call in passthru mode to a callee without it: %v, want %s", err, wamp.ErrFeatureNotSupported)
	}
	// A session that did not announce the mode does not send it.
	for _, err := range []error{
		func() error {
			_, err := plain.Call(ctx, "test.ppt.echo", wamp.List{blob}, nil, client.CallOptions{Passthru: e2e}.Dict())
			return err
		}(),
		func() error {
			_, err := plain.Publish(ctx, "test.ppt.topic", wamp.List{blob}, nil, client.PublishOptions{Passthru: e2e}.Dict())
			return err
		}(),
	} {
		if !errors.As(err, &we) || we.URI != wamp.ErrFeatureNotSupported {
			t.Errorf("passthru from a session without it: %v, want %s", err, wamp.ErrFeatureNotSupported)
		}
	}
	// Nor does a callee answer with it: its caller gets the error.
	if _, err := plain.Register(ctx, "test.ppt.answer", func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{blob}, Details: e2e.Dict()}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Call(ctx, "test.ppt.answer", nil, nil, nil); !errors.As(err, &we) || we.URI != wamp.ErrFeatureNotSupported {
		t.Errorf("answer in passthru mode from a callee without it: %v, want %s", err, wamp.ErrFeatureNotSupported)
	}

	// PubSub: PUBLISH -> EVENT with the ppt_* options, to subscribers that
	// announced the mode.
	got, gotPlain := make(chan *client.Event, 4), make(chan *client.Event, 4)
	if _, err := b.Subscribe(ctx, "test.ppt.topic", func(ev *client.Event) { got <- ev }, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Subscribe(ctx, "test.ppt.topic", func(ev *client.Event) { gotPlain <- ev }, nil); err != nil {
		t.Fatal(err)
	}
	mqtt := client.Passthru{Scheme: "mqtt", Serializer: "native"}
	if _, err := a.Publish(ctx, "test.ppt.topic", wamp.List{blob}, nil, client.PublishOptions{Acknowledge: true, Passthru: mqtt}.Dict()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Publish(ctx, "test.ppt.topic", wamp.List{"plain"}, nil, wamp.Dict{"acknowledge": true}); err != nil {
		t.Fatal(err)
	}
	recv := func(c chan *client.Event) *client.Event {
		t.Helper()
		select {
		case ev := <-c:
			return ev
		case <-ctx.Done():
			t.Fatal("no event")
			return nil
		}
	}
	ev := recv(got)
	if client.PassthruOf(ev.Details) != mqtt || !bytes.Equal(ev.Args[0].([]byte), blob) {
		t.Errorf("EVENT in passthru mode: details %v args %v", ev.Details, ev.Args)
	}
	if ev := recv(got); ev.Args[0] != "plain" || client.PassthruOf(ev.Details) != (client.Passthru{}) {
		t.Errorf("plain EVENT: details %v args %v", ev.Details, ev.Args)
	}
	// The subscriber without the mode gets the plain event only.
	if ev := recv(gotPlain); ev.Args[0] != "plain" {
		t.Errorf("a subscriber without passthru mode got %v %v", ev.Details, ev.Args)
	}
	// Sessions go on.
	for _, s := range []*client.Session{a, b, plain} {
		if _, err := s.Publish(ctx, "test.ppt.after", nil, nil, wamp.Dict{"acknowledge": true}); err != nil {
			t.Error(err)
		}
	}
}
