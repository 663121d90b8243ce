package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// dialStalled opens a session that subscribes to the topic and then never
// reads again: the slow consumer of `bench fanout -stalled`. It speaks the
// protocol by hand because the client library always reads. Its socket's
// receive buffer is made small so that the router's queue for it fills
// soon. Closing the returned connection ends it.
func dialStalled(ctx context.Context, cfg *benchConfig) (net.Conn, error) {
	u, err := url.Parse(cfg.url)
	if err != nil {
		return nil, err
	}
	c := codec.ByFormat(cfg.serializer)
	var nc net.Conn
	var send func(m wamp.Message) error
	var recv func() (wamp.Message, error)
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: smallReceiveBuffer}

	switch u.Scheme {
	case "ws":
		d := ws.Dialer{Protocols: []string{c.Subprotocol()}, NetDial: dialer.DialContext}
		if nc, _, _, err = d.Dial(ctx, cfg.url); err != nil {
			return nil, err
		}
		op := ws.OpText
		if c.Binary() {
			op = ws.OpBinary
		}
		send = func(m wamp.Message) error {
			b, err := c.Encode(nil, m)
			if err != nil {
				return err
			}
			return wsutil.WriteClientMessage(nc, op, b)
		}
		recv = func() (wamp.Message, error) {
			b, _, err := wsutil.ReadServerData(nc)
			if err != nil {
				return nil, err
			}
			return c.Decode(b)
		}
	case "rs", "tcp", "unix":
		network, addr := "tcp", u.Host
		if u.Scheme == "unix" {
			network, addr = "unix", u.Path
		}
		if nc, err = dialer.DialContext(ctx, network, addr); err != nil {
			return nil, err
		}
		hs := rawsocket.AppendHandshake(nil, rawsocket.Handshake{MaxLength: rawsocket.MaxLength, Serializer: cfg.serializer})
		var reply [rawsocket.HandshakeSize]byte
		if _, err = nc.Write(hs); err == nil {
			_, err = io.ReadFull(nc, reply[:])
		}
		if err == nil {
			_, err = rawsocket.ParseReply(reply[:])
		}
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("rawsocket handshake: %w", err)
		}
		send = func(m wamp.Message) error {
			b, start := rawsocket.BeginFrame(nil)
			b, err := c.Encode(b, m)
			if err != nil {
				return err
			}
			_, err = nc.Write(rawsocket.EndFrame(b, start, rawsocket.TypeMessage))
			return err
		}
		recv = func() (wamp.Message, error) {
			for {
				var hdr [rawsocket.HeaderSize]byte
				if _, err := io.ReadFull(nc, hdr[:]); err != nil {
					return nil, err
				}
				h, err := rawsocket.ParseHeader(hdr[:])
				if err != nil {
					return nil, err
				}
				b := make([]byte, h.Length)
				if _, err := io.ReadFull(nc, b); err != nil {
					return nil, err
				}
				if h.Type == rawsocket.TypeMessage {
					return c.Decode(b)
				}
			}
		}
	default:
		return nil, fmt.Errorf("-stalled needs a ws://, rs:// (tcp://) or unix:// URL, not %s://", u.Scheme)
	}

	nc.SetDeadline(time.Now().Add(10 * time.Second))
	err = send(&wamp.Hello{Realm: wamp.URI(cfg.realm), Details: wamp.Dict{"roles": wamp.Dict{"subscriber": wamp.Dict{}}, "agent": "junction-bench-stalled"}})
	var m wamp.Message
	if err == nil {
		m, err = recv()
	}
	if err == nil && m.Type() != wamp.TypeWelcome {
		err = fmt.Errorf("joining: got %s", m.Type())
	}
	if err == nil {
		err = send(&wamp.Subscribe{Request: 1, Topic: wamp.URI(cfg.topic)})
	}
	if err == nil {
		m, err = recv()
	}
	if err == nil && m.Type() != wamp.TypeSubscribed {
		err = fmt.Errorf("subscribing: got %s", m.Type())
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return nc, nil
}
