package router

import (
	"errors"
	"strconv"
	"testing"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// requestError decodes b, which must be a request whose options or payload
// are not valid.
func requestError(t *testing.T, c codec.Codec, b []byte) *codec.RequestError {
	t.Helper()
	_, err := c.Decode(b)
	re, ok := errors.AsType[*codec.RequestError](err)
	if !ok {
		t.Fatalf("Decode(%q): %v, want a RequestError", b, err)
	}
	return re
}

// A chunk of a progressive call invocation that is not valid ends the
// call: the caller gets ERROR, the callee INTERRUPT, and later chunks go
// nowhere.
func TestInvalidChunkEndsProgressiveCall(t *testing.T) {
	r := newRouter(t, DropEvents)
	caller := joinRPC(t, r, allFeatures...)
	callee := joinRPC(t, r, allFeatures...)
	register(t, callee, 1, "com.upload", nil)
	inv := invoke(t, caller, callee, 7, "com.upload", wamp.Dict{"progress": true}, "chunk 1")
	caller.s.ReceiveInvalid(requestError(t, codec.JSON, []byte("[48,7,{\"progress\":true},\"com.upload\",[\"\xff\"]]")))
	wantError(t, caller, wamp.TypeCall, 7, wamp.ErrInvalidArgument)
	wantInterrupt(t, callee, inv.Request, "killnowait")
	caller.s.Receive(&wamp.Call{Request: 7, Procedure: "com.upload", Options: wamp.Dict{"progress": true}})
	callee.none()
	caller.none()
	if got := r.Stats().InvalidRequests; got != 1 {
		t.Fatalf("InvalidRequests %d, want 1", got)
	}
}

// A progressive result that is not valid ends the call: the caller gets
// ERROR instead, the callee hears why, and its later results are dropped.
func TestInvalidProgressiveResultEndsCall(t *testing.T) {
	r := newRouter(t, DropEvents)
	caller := joinRPC(t, r, allFeatures...)
	callee := joinRPC(t, r, allFeatures...)
	register(t, callee, 1, "com.stream", nil)
	inv := invoke(t, caller, callee, 3, "com.stream", wamp.Dict{"receive_progress": true})
	callee.s.Receive(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{"progress": true}, Payload: wamp.Payload{Args: wamp.List{"part"}}})
	if res, ok := caller.recv().(*wamp.Result); !ok || res.Request != 3 {
		t.Fatalf("want progressive RESULT, got %+v", res)
	}
	callee.s.ReceiveInvalid(requestError(t, codec.JSON, []byte("[70,"+strconv.FormatUint(uint64(inv.Request), 10)+",{\"progress\":true},[],{\"\xff\":1}]")))
	wantError(t, caller, wamp.TypeCall, 3, wamp.ErrInvalidArgument)
	wantError(t, callee, wamp.TypeYield, inv.Request, wamp.ErrInvalidArgument)
	callee.s.Receive(&wamp.Yield{Request: inv.Request})
	caller.none()
	callee.none()
	if callee.closed() {
		t.Fatal("the callee was disconnected")
	}
}

// Before the join a request that does not decode in full is what any
// message but HELLO is then: a protocol violation.
func TestInvalidRequestBeforeJoin(t *testing.T) {
	r := newRouter(t, DropEvents)
	p := attachPipe(t, r, codec.JSON)
	p.s.ReceiveInvalid(requestError(t, codec.JSON, []byte("[16,1,{},\"com.t\",[\"\xff\"]]")))
	wantAbort(t, p, wamp.ErrProtocolViolation)
}

// A value that MessagePack carries and JSON cannot (NaN) reaches the
// MessagePack subscriber; the JSON subscriber's loss is counted.
func TestEventJSONCannotCarryIsCounted(t *testing.T) {
	r := newRouter(t, DropEvents)
	pub := join(t, r, codec.MsgPack)
	mp := join(t, r, codec.MsgPack)
	js1 := join(t, r, codec.JSON)
	js2 := join(t, r, codec.JSON)
	for _, p := range []*pipe{mp, js1, js2} {
		p.s.Receive(&wamp.Subscribe{Request: 1, Topic: "com.nan"})
		p.recv()
	}
	// [16, 1, {"acknowledge": true}, "com.nan", [NaN]]
	m, err := codec.MsgPack.Decode([]byte("\x95\x10\x01\x81\xabacknowledge\xc3\xa7com.nan\x91\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"))
	if err != nil {
		t.Fatal(err)
	}
	pub.s.Receive(m)
	if _, ok := pub.recv().(*wamp.Published); !ok {
		t.Fatal("want PUBLISHED")
	}
	if _, ok := mp.recv().(*wamp.Event); !ok {
		t.Fatal("the MessagePack subscriber got no EVENT")
	}
	js1.none()
	js2.none()
	if got := r.Stats().EventsUnconvertible; got != 2 {
		t.Fatalf("EventsUnconvertible %d, want 2", got)
	}
	if got := r.Stats().EventsDropped; got != 0 {
		t.Fatalf("EventsDropped %d: a conversion is not the slow-consumer policy", got)
	}
}
