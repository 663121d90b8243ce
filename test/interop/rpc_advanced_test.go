package interop

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// TestRPCAdvanced drives the dealer's Advanced Profile features with
// Autobahn|Python (python/rpc_advanced.py), Autobahn|JS (js/rpc_advanced.js)
// and wampy.js (wampy/rpc_advanced.mjs) over every transport and serializer
// they support, and, for what no library can send (progressive call invocations,
// sharded calls, payload passthru, revocation seen on the wire), with raw
// WAMP messages from Go.
func TestRPCAdvanced(t *testing.T) {
	clients := []*client{pythonClient(t), jsClient(t), wampyClient(t)}
	requireClients(t, clients...)
	r := startRouter(t, routerBinary(t))

	scripts := map[string]struct {
		script    string
		scenarios []string
	}{
		"python": {"rpc_advanced.py", []string{"progressive", "pattern", "shared", "identification", "timeout", "cancel", "caller_leaves", "meta", "revocation"}},
		"js":     {"rpc_advanced.js", []string{"progressive", "pattern", "shared", "identification", "cancel", "timeout", "meta", "revocation"}},
		"wampy":  {"rpc_advanced.mjs", []string{"pattern", "shared", "identification", "timeout", "cancel", "progressive_invocations"}},
	}
	for _, c := range clients {
		s := scripts[c.name]
		// The same interpreter and flags, the advanced script instead of client.py/client.js.
		adv := *c
		adv.command = append(append([]string{}, c.command[:len(c.command)-1]...), s.script)
		for _, cb := range c.combos {
			name := c.name + "/" + cb.String()
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(t.Context(), suiteTimeout)
				defer cancel()
				p := r.startClient(ctx, t, &adv, "--url", r.url(cb.transport), "--serializer", cb.serializer,
					"--prefix", "interop.adv."+strings.NewReplacer("/", ".").Replace(name),
					"--scenarios", strings.Join(s.scenarios, ","))
				checkSuite(t, r, p, s.scenarios, "rpc_advanced/"+name)
			})
		}
	}

	t.Run("raw/progressive_call_invocations", func(t *testing.T) { t.Parallel(); rawProgressiveInvocations(t, r) })
	t.Run("raw/sharded_registration", func(t *testing.T) { t.Parallel(); rawShardedRegistration(t, r) })
	t.Run("raw/payload_passthru", func(t *testing.T) { t.Parallel(); rawPassthruRPC(t, r) })
	t.Run("raw/registration_revocation", func(t *testing.T) { t.Parallel(); rawRegistrationRevocation(t, r) })
	t.Run("raw/welcome_features", func(t *testing.T) { t.Parallel(); rawWelcome(t, r) })
}

func (s *rawSession) register(req wamp.ID, procedure wamp.URI, options wamp.Dict) wamp.ID {
	s.t.Helper()
	s.send(&wamp.Register{Request: req, Procedure: procedure, Options: options})
	m := s.recv()
	reg, ok := m.(*wamp.Registered)
	if !ok || reg.Request != req {
		s.t.Fatalf("REGISTER %s: got %T %+v", procedure, m, m)
	}
	return reg.Registration
}

func (s *rawSession) invocation() *wamp.Invocation {
	s.t.Helper()
	m := s.recv()
	inv, ok := m.(*wamp.Invocation)
	if !ok {
		s.t.Fatalf("want INVOCATION, got %T %+v", m, m)
	}
	return inv
}

func (s *rawSession) result(req wamp.ID) *wamp.Result {
	s.t.Helper()
	m := s.recv()
	res, ok := m.(*wamp.Result)
	if !ok || res.Request != req {
		s.t.Fatalf("want RESULT %d, got %T %+v", req, m, m)
	}
	return res
}

func (s *rawSession) error(req wamp.ID, uri wamp.URI) *wamp.Error {
	s.t.Helper()
	m := s.recv()
	e, ok := m.(*wamp.Error)
	if !ok || e.Request != req || e.Error != uri {
		s.t.Fatalf("want ERROR %d %s, got %T %+v", req, uri, m, m)
	}
	return e
}

func args(t *testing.T, p *wamp.Payload) wamp.List {
	t.Helper()
	l, _, err := codec.DecodePayload(p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func asInt(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := wamp.AsInt(v)
	if !ok {
		t.Fatalf("%v (%T) is not an integer", v, v)
	}
	return n
}

// rawProgressiveInvocations streams a call in chunks while the callee
// streams results back, between a JSON caller and a CBOR callee.
func rawProgressiveInvocations(t *testing.T, r *router) {
	feats := []string{"progressive_call_invocations", "progressive_call_results", "call_canceling", "caller_identification"}
	callee := dialRaw(t, r, codec.CBOR, feats...)
	caller := dialRaw(t, r, codec.JSON, feats...)
	reg := callee.register(1, "interop.raw.upload", nil)

	caller.send(&wamp.Call{Request: 1, Procedure: "interop.raw.upload", Options: wamp.Dict{"progress": true, "receive_progress": true, "disclose_me": true},
		Payload: wamp.Payload{Args: wamp.List{"chunk", 0}}})
	first := callee.invocation()
	if first.Registration != reg || first.Details["progress"] != true || first.Details["receive_progress"] != true ||
		asInt(t, first.Details["caller"]) != int64(caller.id) {
		t.Fatalf("first INVOCATION %+v", first)
	}
	for i := 1; i <= 3; i++ {
		callee.send(&wamp.Yield{Request: first.Request, Options: wamp.Dict{"progress": true}, Payload: wamp.Payload{Args: wamp.List{"ack", i - 1}}})
		res := caller.result(1)
		if res.Details["progress"] != true || asInt(t, args(t, &res.Payload)[1]) != int64(i-1) {
			t.Fatalf("progressive RESULT %+v", res)
		}
		opts := wamp.Dict{"progress": true}
		if i == 3 {
			opts = nil
		}
		caller.send(&wamp.Call{Request: 1, Procedure: "interop.raw.upload", Options: opts, Payload: wamp.Payload{Args: wamp.List{"chunk", i}}})
		inv := callee.invocation()
		if inv.Request != first.Request || (inv.Details["progress"] == true) != (i < 3) || asInt(t, inv.Details["caller"]) != int64(caller.id) {
			t.Fatalf("chunk %d: %+v", i, inv)
		}
		if got := asInt(t, args(t, &inv.Payload)[1]); got != int64(i) {
			t.Fatalf("chunk %d carries %d", i, got)
		}
	}
	callee.send(&wamp.Yield{Request: first.Request, Payload: wamp.Payload{Args: wamp.List{"stored", 4}}})
	if res := caller.result(1); res.Details["progress"] != nil {
		t.Fatalf("final RESULT %+v", res)
	}

	// A callee that does not announce the feature: feature_not_supported.
	plain := dialRaw(t, r, codec.JSON)
	plain.register(1, "interop.raw.plain", nil)
	caller.send(&wamp.Call{Request: 2, Procedure: "interop.raw.plain", Options: wamp.Dict{"progress": true}})
	caller.error(2, wamp.ErrFeatureNotSupported)

	// The caller leaves mid-stream: the callee is interrupted.
	caller.send(&wamp.Call{Request: 3, Procedure: "interop.raw.upload", Options: wamp.Dict{"progress": true}})
	inv := callee.invocation()
	caller.send(&wamp.Goodbye{Reason: wamp.CloseRealm})
	caller.recv()
	m := callee.recv()
	if in, ok := m.(*wamp.Interrupt); !ok || in.Request != inv.Request || in.Options["mode"] != "killnowait" {
		t.Fatalf("want INTERRUPT killnowait, got %T %+v", m, m)
	}
}

// rawShardedRegistration routes partitioned calls by resource key over three callees.
func rawShardedRegistration(t *testing.T, r *router) {
	feats := []string{"shared_registration", "sharded_registration"}
	caller := dialRaw(t, r, codec.MsgPack, feats...)
	var callees []*rawSession
	for i := range 3 {
		c := dialRaw(t, r, codec.JSON, feats...)
		c.register(1, "interop.raw.shard", wamp.Dict{"invoke": "random", "nkey": fmt.Sprintf("node%d", i)})
		callees = append(callees, c)
	}
	// Each callee answers with its index; a key must always reach the same one.
	shard := func(req wamp.ID, rkey string) int64 {
		caller.send(&wamp.Call{Request: req, Procedure: "interop.raw.shard", Options: wamp.Dict{"runmode": "partition", "rkey": rkey}})
		return asInt(t, args(t, &caller.result(req).Payload)[0])
	}
	answer := make(chan struct{})
	defer close(answer)
	for i, c := range callees {
		go func() {
			for {
				select {
				case <-answer:
					return
				default:
				}
				c.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				msgs, err := wsutil.ReadServerMessage(c.conn, nil)
				if err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						continue
					}
					return
				}
				for _, m := range msgs {
					if inv, err := c.c.Decode(m.Payload); err == nil {
						if inv, ok := inv.(*wamp.Invocation); ok {
							b, _ := c.c.Encode(nil, &wamp.Yield{Request: inv.Request, Payload: wamp.Payload{Args: wamp.List{i}}})
							wsutil.WriteClientMessage(c.conn, ws.OpText, b)
						}
					}
				}
			}
		}()
	}
	req := wamp.ID(1)
	first := map[string]int64{}
	for k := range 12 {
		key := fmt.Sprintf("sensor-%d", k)
		first[key] = shard(req, key)
		req++
	}
	for key, want := range first {
		for range 3 {
			if got := shard(req, key); got != want {
				t.Fatalf("rkey %s went to callee %d, then %d", key, want, got)
			}
			req++
		}
	}
	caller.send(&wamp.Call{Request: req, Procedure: "interop.raw.shard", Options: wamp.Dict{"runmode": "partition"}})
	caller.error(req, wamp.ErrInvalidArgument)
	caller.send(&wamp.Call{Request: req + 1, Procedure: "interop.raw.shard", Options: wamp.Dict{"runmode": "all"}})
	caller.error(req+1, wamp.ErrOptionNotAllowed)
}

// rawPassthruRPC sends a binary payload in payload passthru mode both ways.
func rawPassthruRPC(t *testing.T, r *router) {
	callee := dialRaw(t, r, codec.CBOR, "payload_passthru_mode")
	caller := dialRaw(t, r, codec.MsgPack, "payload_passthru_mode")
	callee.register(1, "interop.raw.ppt", nil)
	blob := []byte{0, 1, 2, 0xfe, 0xff}
	opts := wamp.Dict{"ppt_scheme": "x_interop", "ppt_serializer": "native", "ppt_keyid": "k1"}
	caller.send(&wamp.Call{Request: 1, Procedure: "interop.raw.ppt", Options: opts, Payload: wamp.Payload{Args: wamp.List{blob}}})
	inv := callee.invocation()
	for k, v := range opts {
		if inv.Details[k] != v {
			t.Fatalf("INVOCATION.Details %v, want %s=%v", inv.Details, k, v)
		}
	}
	if got, _ := args(t, &inv.Payload)[0].([]byte); !bytes.Equal(got, blob) {
		t.Fatalf("payload %v", args(t, &inv.Payload))
	}
	callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{"ppt_scheme": "x_interop"}, Payload: wamp.Payload{Args: wamp.List{blob}}})
	res := caller.result(1)
	if res.Details["ppt_scheme"] != "x_interop" {
		t.Fatalf("RESULT %+v", res)
	}
	if got, _ := args(t, &res.Payload)[0].([]byte); !bytes.Equal(got, blob) {
		t.Fatalf("payload %v", args(t, &res.Payload))
	}
	// A caller that did not announce the feature is cut off.
	rogue := dialRaw(t, r, codec.JSON)
	rogue.send(&wamp.Call{Request: 1, Procedure: "interop.raw.ppt", Options: opts})
	if a, ok := rogue.recv().(*wamp.Abort); !ok || a.Reason != wamp.ErrProtocolViolation {
		t.Fatalf("want ABORT protocol_violation, got %+v", a)
	}
}

// rawRegistrationRevocation checks the UNREGISTERED a revoked callee gets on the wire.
func rawRegistrationRevocation(t *testing.T, r *router) {
	callee := dialRaw(t, r, codec.JSON, "registration_revocation")
	admin := dialRaw(t, r, codec.JSON)
	reg := callee.register(1, "interop.raw.revoked", nil)
	admin.send(&wamp.Call{Request: 1, Procedure: "wamp.registration.remove_callee",
		Payload: wamp.Payload{Args: wamp.List{uint64(reg), uint64(callee.id), "maintenance"}}})
	admin.result(1)
	u, ok := callee.recv().(*wamp.Unregistered)
	if !ok || u.Request != 0 || asInt(t, u.Details["registration"]) != int64(reg) || u.Details["reason"] != "maintenance" {
		t.Fatalf("UNREGISTERED %+v", u)
	}
}

// rawWelcome checks that WELCOME announces the dealer's features.
func rawWelcome(t *testing.T, r *router) {
	s := dialRaw(t, r, codec.JSON)
	roles, _ := s.welcome.Details["roles"].(map[string]any)
	dealer, _ := roles["dealer"].(map[string]any)
	features, _ := dealer["features"].(map[string]any)
	for _, f := range []string{
		"progressive_call_results", "progressive_call_invocations", "call_timeout", "call_canceling",
		"caller_identification", "call_trustlevels", "pattern_based_registration", "shared_registration",
		"sharded_registration", "registration_revocation", "registration_meta_api", "payload_passthru_mode",
	} {
		if features[f] != true {
			t.Errorf("WELCOME does not announce dealer feature %s: %v", f, features)
		}
	}
}
