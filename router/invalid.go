package router

import (
	"fmt"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// ReceiveInvalid handles a request that decoded only in part: its type and
// request id read, its Options or payload are not valid (a string that is
// not UTF-8, an integer beyond 64 bits; see codec.RequestError). The
// sender, and only the sender, hears of it: ERROR wamp.error.invalid_argument
// for its request (the specification's payload validation), and the
// session goes on. Nothing of the request reaches anyone else: a callee
// that answers a call with such a YIELD or ERROR gets the ERROR, and the
// caller an ERROR for its call instead of the answer.
//
// An unacknowledged PUBLISH gets no answer (publish_subscribe.md): it is
// counted and logged, as every refusal is (Stats.InvalidRequests).
func (s *Session) ReceiveInvalid(e *codec.RequestError) {
	s.mu.Lock()
	state := s.state
	s.mu.Unlock()
	if state != stateEstablished {
		// Before the join or after GOODBYE the request means nothing
		// anyway: Receive treats it as it treats any such message.
		s.Receive(e.Message)
		return
	}
	s.router.stats.InvalidRequests.Add(1)
	answered := true
	switch m := e.Message.(type) {
	case *wamp.Publish:
		answered = wamp.Bool(m.Options, "acknowledge", false)
		if answered {
			s.errorReply(wamp.TypePublish, m.Request, wamp.ErrInvalidArgument, "PUBLISH to %q refused: %v", m.Topic, e.Err)
		}
	case *wamp.Call:
		s.realm.dealer.refuseCall(s, m, e.Err)
	case *wamp.Yield:
		s.realm.dealer.refuseAnswer(s, wamp.TypeYield, m.Request, e.Err)
	case *wamp.Error: // a callee's ERROR for an INVOCATION
		s.realm.dealer.refuseAnswer(s, wamp.TypeError, m.Request, e.Err)
	case *wamp.Subscribe:
		s.errorReply(wamp.TypeSubscribe, m.Request, wamp.ErrInvalidArgument, "SUBSCRIBE to %q refused: %v", m.Topic, e.Err)
	case *wamp.Register:
		s.errorReply(wamp.TypeRegister, m.Request, wamp.ErrInvalidArgument, "REGISTER of %q refused: %v", m.Procedure, e.Err)
	case *wamp.Cancel:
		s.errorReply(wamp.TypeCancel, m.Request, wamp.ErrInvalidArgument, "CANCEL refused: %v", e.Err)
	default:
		// The codec makes RequestErrors of the requests above only.
		s.violation(fmt.Sprintf("cannot decode message: %v", e.Err))
		return
	}
	if ok, held := s.router.logLimit.Allow("invalid request"); ok {
		s.logger().Info("request refused: options or payload not valid", "message", e.Message.Type().String(),
			"answered", answered, "err", e.Err, "held_back", held)
	}
}

// refuseCall answers a CALL whose options or payload are not valid. The
// chunk of a progressive call invocation in progress ends that call, as a
// bad progress option does in continueCall.
func (d *dealer) refuseCall(s *Session, m *wamp.Call, err error) {
	if s.features.has(caller, featProgressiveCallInvocations) {
		s.mu.Lock()
		oc, active := s.rpc.get(m.Request)
		ended := !active && s.rpc != nil && s.rpc.ended.has(m.Request)
		s.mu.Unlock()
		switch {
		case active && !oc.streaming:
			s.violation(fmt.Sprintf("CALL %d reuses the request id of a call in flight that is not a progressive call invocation in progress", m.Request))
			return
		case active:
			if _, ok := d.complete(oc.callee, oc.invID); ok {
				d.interrupt(oc.callee, oc.invID, "killnowait", wamp.ErrCanceled)
				s.requestError(wamp.TypeCall, m.Request, err)
			}
			return
		case ended:
			return // answered already (see call)
		}
	}
	s.errorReply(wamp.TypeCall, m.Request, wamp.ErrInvalidArgument, "CALL to %q refused: %v", m.Procedure, err)
}

// eventLost counts and logs an EVENT that could not be encoded for
// subscriber s: its serializer cannot carry the payload (NaN, infinities
// or a string that starts with U+0000 for JSON), which the publisher's
// serializer could. Such a payload passes the door (it reaches the
// subscribers that can take it), so each loss is counted here.
func (s *Session) eventLost(err error) {
	s.router.stats.EventsUnconvertible.Add(1)
	if ok, held := s.router.logLimit.Allow("event not convertible"); ok {
		s.logger().Warn("EVENT not delivered: the subscriber's serializer cannot carry its payload",
			"serializer", s.info.Serializer, "err", err, "held_back", held)
	}
}
