package router

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// fuzzPeer is the transport of a session the fuzzer drives. It checks that
// every message the router sends encodes and decodes again with its
// serializer (MessagePack, the strictest about types), and keeps the ids
// the router gave it, so that the fuzzer's messages can name them (see
// fillIDs): without them a YIELD, an UNSUBSCRIBE or an UNREGISTER could
// only name an id the router picked at random.
type fuzzPeer struct {
	t *testing.T
	c codec.Codec

	// sent gets the type of every message sent, while it has room.
	sent chan wamp.MessageType

	mu     sync.Mutex
	closed bool
	ids    lastIDs
}

func (p *fuzzPeer) Send(m wamp.Message) error {
	b, err := p.c.Encode(nil, m)
	if err != nil {
		p.t.Errorf("router sent a %s that does not encode: %v (%+v)", m.Type(), err, m)
		return nil
	}
	got, err := p.c.Decode(b)
	if err != nil {
		p.t.Errorf("router sent %x, which does not decode: %v", b, err)
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	select {
	case p.sent <- got.Type():
	default:
	}
	p.ids.note(got)
	return nil
}

func (p *fuzzPeer) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

// fillIDs puts the last invocation, subscription and registration the
// router gave the session where m names id 0 (which WAMP never uses).
func (p *fuzzPeer) fillIDs(m wamp.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch m := m.(type) {
	case *wamp.Yield:
		if m.Request == 0 {
			m.Request = p.ids.lastInv
		}
	case *wamp.Error:
		if m.Request == 0 && m.RequestType == wamp.TypeInvocation {
			m.Request = p.ids.lastInv
		}
	case *wamp.Unsubscribe:
		if m.Subscription == 0 {
			m.Subscription = p.ids.lastSub
		}
	case *wamp.Unregister:
		if m.Registration == 0 {
			m.Registration = p.ids.lastReg
		}
	}
}

// FuzzSessions: whatever two joined sessions send the router (any message
// that decodes, in any order, with any options) costs at most those
// sessions: the router does not panic, sends nothing its serializer cannot
// carry, and still serves a third session afterwards. Input: JSON
// messages, one a line; a line that starts with "b " comes from the
// second session, any other from the first.
func FuzzSessions(f *testing.F) {
	for _, seed := range []string{
		// RPC, both ways: register, call, yield (0: the last INVOCATION).
		"[64,1,{},\"com.p\"]\nb [48,1,{},\"com.p\",[1],{\"a\":1}]\n[70,0,{},[2]]",
		"[64,1,{\"invoke\":\"roundrobin\"},\"com.p\"]\nb [64,1,{\"invoke\":\"roundrobin\"},\"com.p\"]\n[48,2,{\"timeout\":1},\"com.p\"]\nb [8,68,0,{},\"com.e\",[1]]",
		"[64,1,{\"match\":\"prefix\"},\"com\"]\nb [48,1,{\"receive_progress\":true,\"progress\":true},\"com.p\",[1]]\nb [48,1,{\"progress\":false},\"com.p\",[2]]\n[70,0,{\"progress\":true},[1]]\nb [49,1,{\"mode\":\"killnowait\"}]\n[70,0,{}]",
		"[64,1,{\"match\":\"wildcard\"},\"com..x\"]\nb [48,1,{\"disclose_me\":true},\"com.a.x\"]\n[66,2,0]\nb [49,1,{\"mode\":\"kill\"}]",
		"[64,1,{\"force_reregister\":true,\"invoke\":\"single\"},\"com.p\"]\nb [64,1,{\"force_reregister\":true},\"com.p\"]\nb [48,2,{\"rkey\":\"k\",\"runmode\":\"partition\"},\"com.p\"]",
		// PubSub: subscribe, publish with options, history, retained, unsubscribe.
		"[32,1,{},\"com.t\"]\nb [16,1,{\"acknowledge\":true,\"exclude_me\":false,\"disclose_me\":true,\"retain\":true},\"com.t\",[1],{\"k\":\"v\"}]\n[34,2,0]",
		"[32,1,{\"match\":\"prefix\",\"get_retained\":true},\"com.h\"]\nb [16,1,{\"acknowledge\":true,\"eligible\":[1,2],\"exclude\":[3],\"eligible_authrole\":[\"anonymous\"],\"exclude_authid\":[\"x\"]},\"com.h.1\",[\"\\u0000AAE=\"]]",
		"[32,1,{\"match\":\"wildcard\"},\"com..t\"]\nb [16,2,{\"rkey\":\"r\",\"retain\":true,\"acknowledge\":true},\"com.x.t\"]\n[32,3,{\"get_retained\":true,\"nkey\":\"r\"},\"com.x.t\"]",
		// The meta API and the event history.
		"[48,1,{},\"wamp.session.list\"]\n[48,2,{},\"wamp.session.get\",[1]]\n[48,3,{},\"wamp.registration.match\",[\"com.p\"]]\n[48,4,{},\"wamp.subscription.lookup\",[\"com.t\",{\"match\":\"prefix\"}]]",
		"[32,1,{},\"wamp.session.on_leave\"]\nb [48,1,{},\"wamp.session.add_testament\",[\"com.t\",[1],{}],{\"scope\":\"destroyed\"}]\nb [6,{},\"wamp.close.normal\"]",
		"[16,1,{\"acknowledge\":true},\"com.h.1\",[1]]\n[48,2,{},\"wamp.subscription.get_events\",[0,5]]\n[48,3,{},\"wamp.session.kill\",[1],{\"reason\":\"wamp.close.x\"}]",
		"b [48,1,{},\"wamp.session.kill_all\"]\n[48,2,{},\"wamp.registration.list_callees\",[0]]\n[48,3,{},\"wamp.session.flush_testaments\"]",
		// Errors and violations.
		"[70,12345,{}]\n[8,68,1,{},\"x\"]\n[49,9,{}]\n[34,1,7]\n[66,1,7]\n[1,\"realm1\",{}]",
		"[16,1,{\"acknowledge\":\"yes\"},\"com.t\"]\n[48,1,{\"timeout\":-1},\"com.p\"]\n[32,1,{\"match\":\"nope\"},\"com.t\"]",
	} {
		f.Add([]byte(seed))
	}
	// Both sessions announce every feature of every role, so that no
	// message is refused for a feature its sender did not announce.
	features := wamp.Dict{}
	for name := range featureNames {
		features[name] = true
	}
	roles := wamp.Dict{}
	for _, role := range roleNames {
		roles[role] = wamp.Dict{"features": features}
	}
	hello := wamp.Dict{"roles": roles}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := New(Config{
			Realms: []RealmConfig{{
				Name:        "realm1",
				Anonymous:   true,
				TrustLevels: map[string]int{"anonymous": 1},
				History:     []HistoryRule{{Match: wamp.MatchPrefix, Topic: "com.h", Limit: 4}},
			}},
			HistoryPath: filepath.Join(t.TempDir(), "history.db"),
			Limits:      SessionLimits{Subscriptions: 50, Registrations: 50, CallsInFlight: 50},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		c := codec.ByFormat(wamp.FormatJSON)
		var peers [2]*fuzzPeer
		var sessions [2]*Session
		for i := range peers {
			peers[i] = &fuzzPeer{t: t, c: codec.ByFormat(wamp.FormatMsgPack)}
			sessions[i] = r.Attach(peers[i], TransportInfo{Kind: "test", Serializer: "msgpack"})
			sessions[i].Receive(&wamp.Hello{Realm: "realm1", Details: hello})
		}
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			i := 0
			if rest, ok := bytes.CutPrefix(line, []byte("b ")); ok {
				i, line = 1, rest
			}
			m, err := c.Decode(line)
			if err != nil {
				continue
			}
			peers[i].fillIDs(m)
			sessions[i].Receive(m)
		}
		// A third session joins, subscribes and is sent what it published.
		check := &pipe{t: t, c: c, out: make(chan wamp.Message, 1024)}
		cs := r.Attach(check, TransportInfo{Kind: "test", Serializer: "json"})
		cs.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
		if w, ok := check.recv().(*wamp.Welcome); !ok {
			t.Fatalf("a new session after the fuzzed ones: want WELCOME, got %+v", w)
		}
		cs.Receive(&wamp.Subscribe{Request: 1, Topic: "org.check"})
		if m, ok := check.recv().(*wamp.Subscribed); !ok {
			t.Fatalf("want SUBSCRIBED, got %+v", m)
		}
		cs.Receive(&wamp.Publish{Request: 2, Options: wamp.Dict{"acknowledge": true, "exclude_me": false}, Topic: "org.check"})
		for _, want := range []wamp.MessageType{wamp.TypeEvent, wamp.TypePublished} {
			if m := check.recv(); m.Type() != want {
				t.Fatalf("want %s, got %+v", want, m)
			}
		}
		closeAll(t, r, sessions[0], sessions[1], cs)
	})
}

// FuzzLogin: whatever a client sends before it is authenticated (a HELLO
// with any details and authmethods, AUTHENTICATE with any signature and
// extra, anything else out of turn) ends at most in that session's ABORT:
// the router does not panic, and a client that logs in properly still
// can. Input: JSON messages, one a line, of one session; the realm offers
// every static method (ticket, wampcra, wamp-scram with PBKDF2 and
// Argon2id, cryptosign, anonymous).
func FuzzLogin(f *testing.F) {
	for _, seed := range []string{
		`[1,"realm1",{"roles":{"caller":{}},"authmethods":["ticket"],"authid":"ticket-user"}]` + "\n" + `[5,"ticket-secret",{}]`,
		`[1,"realm1",{"roles":{"caller":{}},"authmethods":["wampcra"],"authid":"cra-user"}]` + "\n" + `[5,"c2lnbmF0dXJl",{}]`,
		`[1,"realm1",{"roles":{"caller":{}},"authmethods":["wamp-scram"],"authid":"scram-user","authextra":{"nonce":"Y2xpZW50IG5vbmNlIDE2Yg==","channel_binding":null}}]` + "\n" + `[5,"cHJvb2Y=",{"nonce":"Y2xpZW50IG5vbmNlIDE2Yg==","channel_binding":null,"cbind_data":""}]`,
		`[1,"realm1",{"roles":{"caller":{}},"authmethods":["wamp-scram"],"authid":"argon-user","authextra":{"nonce":"bm9uY2U=","channel_binding":"tls-unique"}}]`,
		`[1,"realm1",{"roles":{"caller":{}},"authmethods":["cryptosign"],"authid":"device-1","authextra":{"pubkey":"0000000000000000000000000000000000000000000000000000000000000000"}}]` + "\n" + `[5,"00",{}]`,
		`[1,"realm1",{"roles":{"caller":{}},"authmethods":["cryptosign","ticket","anonymous"],"authextra":{"pubkey":"zz"}}]`,
		`[1,"realm1",{"roles":{"caller":{}},"authmethods":["cookie","tls"]}]` + "\n" + `[5,"",{}]` + "\n" + `[5,"",{}]`,
		`[5,"early",{}]` + "\n" + `[1,"nowhere",{"roles":{}}]` + "\n" + `[6,{},"wamp.close.normal"]`,
		`[1,"realm1",{"roles":{"callee":{"features":{"call_canceling":true}}},"authmethods":["anonymous"],"authrole":"backend","authid":"x"}]` + "\n" + `[64,1,{},"com.p"]`,
	} {
		f.Add([]byte(seed))
	}
	pw, err := auth.NewPasswordHash("ticket-secret", "pbkdf2-sha256", 1000, 0) // cheap, for the test
	if err != nil {
		f.Fatal(err)
	}
	cra, err := auth.DeriveCRAKey("cra-secret", "salt", 100, 32)
	if err != nil {
		f.Fatal(err)
	}
	pbkdf2, err := auth.NewSCRAMCredential("pw", auth.KDFPBKDF2, 100, 0)
	if err != nil {
		f.Fatal(err)
	}
	argon, err := auth.NewSCRAMCredential("pw", auth.KDFArgon2id13, 1, 64)
	if err != nil {
		f.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	principals := auth.NewPrincipals([]*auth.Principal{
		{AuthID: "ticket-user", Role: "backend", Ticket: pw},
		{AuthID: "cra-user", Role: "backend", CRA: cra},
		{AuthID: "scram-user", Role: "backend", SCRAM: []*auth.SCRAMCredential{pbkdf2}},
		{AuthID: "argon-user", Role: "backend", SCRAM: []*auth.SCRAMCredential{argon}},
		{AuthID: "device-1", Role: "backend", PublicKeys: []ed25519.PublicKey{pub}},
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		pol := &auth.Policy{}
		pol.Add(auth.MethodTicket, &auth.Ticket{Principals: principals})
		pol.Add(auth.MethodWAMPCRA, auth.NewWAMPCRA(principals))
		pol.Add(auth.MethodSCRAM, auth.NewSCRAM(principals))
		pol.Add(auth.MethodCryptosign, auth.NewCryptosign(principals))
		pol.Add(auth.MethodAnonymous, &auth.Anonymous{Role: "backend"})
		roles, err := auth.NewRoles([]*auth.Role{{Name: "backend", Permissions: []auth.Permission{{URI: "*", Allow: auth.AllowAll}}}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Auth: pol, Roles: roles}}})
		if err != nil {
			t.Fatal(err)
		}
		c := codec.ByFormat(wamp.FormatJSON)
		p := &fuzzPeer{t: t, c: codec.ByFormat(wamp.FormatCBOR), sent: make(chan wamp.MessageType, 64)}
		s := r.Attach(p, TransportInfo{Kind: "test", Serializer: "cbor", RemoteAddr: "127.0.0.1:1"})
		// A HELLO or AUTHENTICATE is answered (CHALLENGE, WELCOME or
		// ABORT) once the login's checks have run, on another
		// goroutine: the next message waits for that answer, as a
		// client would, and so does the end. Never an answer is a bug.
		awaiting, ended := false, false
		await := func() {
			if !awaiting || ended {
				return
			}
			awaiting = false
			select {
			case mt := <-p.sent:
				ended = mt == wamp.TypeAbort || mt == wamp.TypeGoodbye
			case <-time.After(10 * time.Second):
				t.Fatal("a HELLO or AUTHENTICATE got no answer")
			}
		}
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			m, err := c.Decode(line)
			if err != nil {
				continue
			}
			await()
			// What the router sent unasked (EVENTs, answers to CALLs).
			for drained := false; !drained; {
				select {
				case mt := <-p.sent:
					ended = ended || mt == wamp.TypeAbort || mt == wamp.TypeGoodbye
				default:
					drained = true
				}
			}
			s.Receive(m)
			if t := m.Type(); t == wamp.TypeHello || t == wamp.TypeAuthenticate {
				awaiting = true
			}
		}
		await()
		check := &pipe{t: t, c: c, out: make(chan wamp.Message, 64)}
		cs := r.Attach(check, TransportInfo{Kind: "test", Serializer: "json", RemoteAddr: "127.0.0.1:2"})
		cs.Receive(hello("realm1", "", "anonymous"))
		if w, ok := check.recv().(*wamp.Welcome); !ok {
			t.Fatalf("an anonymous login after the fuzzed one: want WELCOME, got %+v", w)
		}
		closeAll(t, r, s, cs)
	})
}

// closeAll detaches the sessions and shuts r down.
func closeAll(t *testing.T, r *Router, sessions ...*Session) {
	t.Helper()
	for _, s := range sessions {
		s.Detach()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}
