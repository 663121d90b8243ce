package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/junction-wamp/junction/bridge"
	"github.com/junction-wamp/junction/config"
	"github.com/junction-wamp/junction/metrics"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/transport/longpoll"
)

// listenerHTTP builds the plain HTTP side of listener l, served on the WAMP
// port (transport.Server.Handler): the long-poll transport and the HTTP
// bridge. It returns the mux to serve (nil when there is nothing to serve)
// and what to close once the router and the listener are shut down; it
// adds the handlers it builds to src, for the metrics.
func listenerHTTP(cfg *config.Config, l config.Listener, srv *transport.Server, rt *router.Router, src *metrics.Sources, log *slog.Logger) (*http.ServeMux, func(), error) {
	mux := http.NewServeMux()
	served := false
	var closers []func()
	if lp := l.LongPoll; lp.Enabled {
		lc := longpoll.Config{
			Router:             rt,
			Path:               lp.Path,
			AllowedOrigins:     l.AllowedOrigins,
			TLS:                l.TLS != nil,
			MaxMessageSize:     int(cfg.Limits.MaxMessageSize),
			OutboundQueue:      int(cfg.Limits.OutboundQueue),
			RequestTimeout:     lp.RequestTimeout,
			SessionTimeout:     lp.SessionTimeout,
			HelloTimeout:       cfg.Limits.HelloTimeout,
			MaxPerAddress:      lp.MaxPerAddress,
			MaxTransports:      lp.MaxTransports,
			AllowAddressChange: lp.AllowAddressChange,
			Logger:             log.With("listener", l.Address, "transport", "longpoll"),
		}
		if srv.Cookie != nil {
			lc.Cookie = srv.Cookie.Spec(l.TLS != nil)
		}
		h, err := longpoll.New(lc)
		if err != nil {
			return nil, nil, err
		}
		mux.Handle(lp.Path+"/", h)
		closers = append(closers, h.Close)
		src.LongPolls = append(src.LongPolls, h)
		served = true
	}
	if b := l.Bridge; b != nil {
		keys := make([]bridge.Key, len(b.Keys))
		for i, k := range b.Keys {
			keys[i] = bridge.Key{Key: k.Key, Secret: k.Secret, AuthID: k.AuthID}
		}
		h, err := bridge.New(bridge.Config{Router: rt, Realm: b.Realm, MaxBodyBytes: cfg.Limits.MaxMessageSize,
			CallTimeout: b.CallTimeout, Keys: keys, SignatureWindow: b.SignatureWindow,
			Logger: log.With("listener", l.Address, "bridge", b.Realm)})
		if err != nil {
			return nil, nil, err
		}
		mux.Handle(b.PublishPath, h.Publish())
		mux.Handle(b.CallPath, h.Call())
		src.Bridges = append(src.Bridges, h)
		served = true
	}
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	if !served {
		return nil, closeAll, nil
	}
	return mux, closeAll, nil
}

// startWebhooks starts the config's webhooks and HTTP callees and returns
// what stops them; the webhooks are added to src, for the metrics.
func startWebhooks(ctx context.Context, cfg *config.Config, rt *router.Router, src *metrics.Sources, log *slog.Logger) (func(), error) {
	var started []interface{ Stop() }
	stop := func() {
		for _, w := range started {
			w.Stop()
		}
	}
	for i, ce := range cfg.Callees {
		c, err := bridge.StartCallee(ctx, bridge.CalleeConfig{Router: rt, Realm: ce.Realm, Procedure: ce.Procedure, Match: ce.Match,
			URL: ce.URL, Secret: ce.Secret, AuthID: ce.AuthID, Ticket: ce.Ticket, Timeout: ce.Timeout, Concurrency: ce.Concurrency,
			Logger: log})
		if err != nil {
			stop()
			return nil, fmt.Errorf("callees[%d]: %w", i, err)
		}
		started = append(started, c)
	}
	for i, wh := range cfg.Webhooks {
		retries := wh.Retries
		if retries == 0 {
			retries = -1 // the config's 0 is "try once"
		}
		w, err := bridge.StartWebhook(ctx, bridge.WebhookConfig{Router: rt, Realm: wh.Realm, Topic: wh.Topic, Match: wh.Match,
			URL: wh.URL, Secret: wh.Secret, AuthID: wh.AuthID, Ticket: wh.Ticket, Queue: wh.Queue, Timeout: wh.Timeout,
			Retries: retries, Logger: log})
		if err != nil {
			stop()
			return nil, fmt.Errorf("webhooks[%d]: %w", i, err)
		}
		started = append(started, w)
		src.Webhooks = append(src.Webhooks, w)
	}
	return stop, nil
}
