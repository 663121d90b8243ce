package codec

import (
	"fmt"

	"github.com/junction-wamp/junction/wamp"
)

// decoder reads a message from its split elements; the first error sticks.
// It holds the elements by value, and split returns them by value, so that
// they stay on the stack: the format's methods are called through an
// interface, which the compiler must assume keeps what it is passed.
type decoder struct {
	f    format
	self wamp.Format
	el   [maxElements][]byte
	n    int // elements in el
	err  error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

// arity checks the element count (type code included).
func (d *decoder) arity(t wamp.MessageType, min, max int) bool {
	if d.n < min || d.n > max {
		if min == max {
			d.fail("%s must have %d elements, got %d", t, min, d.n)
		} else {
			d.fail("%s must have %d to %d elements, got %d", t, min, max, d.n)
		}
		return false
	}
	return true
}

func (d *decoder) id(i int, what string) wamp.ID {
	if d.err != nil {
		return 0
	}
	v, err := d.f.uint(d.el[i])
	if err != nil {
		d.fail("%s: %w", what, err)
		return 0
	}
	if v > uint64(wamp.MaxID) {
		d.fail("%s: %d is larger than 2^53", what, v)
	}
	return wamp.ID(v)
}

func (d *decoder) str(i int, what string) string {
	if d.err != nil {
		return ""
	}
	s, err := d.f.str(d.el[i])
	if err != nil {
		d.fail("%s: %w", what, err)
	}
	return s
}

func (d *decoder) uri(i int, what string) wamp.URI { return wamp.URI(d.str(i, what)) }

func (d *decoder) dict(i int, what string) wamp.Dict {
	if d.err != nil {
		return nil
	}
	if d.f.kind(d.el[i]) != kindDict {
		d.fail("%s must be a dict", what)
		return nil
	}
	if d.f.emptyDict(d.el[i]) {
		return nil
	}
	v, err := d.f.value(d.el[i])
	if err != nil {
		d.fail("%s: %w", what, err)
		return nil
	}
	m, _ := v.(map[string]any)
	if len(m) == 0 {
		return nil
	}
	return m
}

// payload reads the optional Arguments|list and ArgumentsKw|dict at i, i+1.
func (d *decoder) payload(i int, p *wamp.Payload) {
	if d.err != nil || d.n <= i {
		return
	}
	p.Format = d.self
	if d.f.kind(d.el[i]) != kindList {
		d.fail("Arguments must be a list")
		return
	}
	if err := d.f.wellFormed(d.el[i]); err != nil {
		d.fail("Arguments: %w", err)
		return
	}
	p.RawArgs = d.el[i]
	if d.n <= i+1 {
		return
	}
	if d.f.kind(d.el[i+1]) != kindDict {
		d.fail("ArgumentsKw must be a dict")
		return
	}
	if err := d.f.wellFormed(d.el[i+1]); err != nil {
		d.fail("ArgumentsKw: %w", err)
		return
	}
	p.RawKwargs = d.el[i+1]
}

func (d *decoder) message() wamp.Message {
	if d.n == 0 {
		d.fail("a message is a non-empty array")
		return nil
	}
	code, err := d.f.uint(d.el[0])
	if err != nil || code > 255 || !wamp.MessageType(code).Known() {
		if err != nil {
			d.fail("message type: %w", err)
		} else {
			d.fail("%w %d", ErrUnknownType, code)
		}
		return nil
	}
	t := wamp.MessageType(code)
	switch t {
	case wamp.TypeHello:
		if d.arity(t, 3, 3) {
			return &wamp.Hello{Realm: d.uri(1, "Realm"), Details: d.dict(2, "Details")}
		}
	case wamp.TypeWelcome:
		if d.arity(t, 3, 3) {
			return &wamp.Welcome{Session: d.id(1, "Session"), Details: d.dict(2, "Details")}
		}
	case wamp.TypeAbort:
		if d.arity(t, 3, 5) {
			m := &wamp.Abort{Details: d.dict(1, "Details"), Reason: d.uri(2, "Reason")}
			d.payload(3, &m.Payload)
			return m
		}
	case wamp.TypeChallenge:
		if d.arity(t, 3, 3) {
			return &wamp.Challenge{AuthMethod: d.str(1, "AuthMethod"), Extra: d.dict(2, "Extra")}
		}
	case wamp.TypeAuthenticate:
		if d.arity(t, 3, 3) {
			return &wamp.Authenticate{Signature: d.str(1, "Signature"), Extra: d.dict(2, "Extra")}
		}
	case wamp.TypeGoodbye:
		if d.arity(t, 3, 3) {
			return &wamp.Goodbye{Details: d.dict(1, "Details"), Reason: d.uri(2, "Reason")}
		}
	case wamp.TypeError:
		if d.arity(t, 5, 7) {
			rt := d.id(1, "REQUEST.Type")
			m := &wamp.Error{RequestType: wamp.MessageType(rt), Request: d.id(2, "Request"),
				Details: d.dict(3, "Details"), Error: d.uri(4, "Error")}
			if rt > 255 {
				d.fail("REQUEST.Type %d is not a message type", rt)
			}
			d.payload(5, &m.Payload)
			return m
		}
	case wamp.TypePublish:
		if d.arity(t, 4, 6) {
			m := &wamp.Publish{Request: d.id(1, "Request"), Options: d.dict(2, "Options"), Topic: d.uri(3, "Topic")}
			d.payload(4, &m.Payload)
			return m
		}
	case wamp.TypePublished:
		if d.arity(t, 3, 3) {
			return &wamp.Published{Request: d.id(1, "Request"), Publication: d.id(2, "Publication")}
		}
	case wamp.TypeSubscribe:
		if d.arity(t, 4, 4) {
			return &wamp.Subscribe{Request: d.id(1, "Request"), Options: d.dict(2, "Options"), Topic: d.uri(3, "Topic")}
		}
	case wamp.TypeSubscribed:
		if d.arity(t, 3, 3) {
			return &wamp.Subscribed{Request: d.id(1, "Request"), Subscription: d.id(2, "Subscription")}
		}
	case wamp.TypeUnsubscribe:
		if d.arity(t, 3, 3) {
			return &wamp.Unsubscribe{Request: d.id(1, "Request"), Subscription: d.id(2, "Subscription")}
		}
	case wamp.TypeUnsubscribed:
		if d.arity(t, 2, 3) {
			m := &wamp.Unsubscribed{Request: d.id(1, "Request")}
			if d.n == 3 {
				m.Details = d.dict(2, "Details")
			}
			return m
		}
	case wamp.TypeEvent:
		if d.arity(t, 4, 6) {
			m := &wamp.Event{Subscription: d.id(1, "Subscription"), Publication: d.id(2, "Publication"), Details: d.dict(3, "Details")}
			d.payload(4, &m.Payload)
			return m
		}
	case wamp.TypeCall:
		if d.arity(t, 4, 6) {
			m := &wamp.Call{Request: d.id(1, "Request"), Options: d.dict(2, "Options"), Procedure: d.uri(3, "Procedure")}
			d.payload(4, &m.Payload)
			return m
		}
	case wamp.TypeCancel:
		if d.arity(t, 3, 3) {
			return &wamp.Cancel{Request: d.id(1, "Request"), Options: d.dict(2, "Options")}
		}
	case wamp.TypeResult:
		if d.arity(t, 3, 5) {
			m := &wamp.Result{Request: d.id(1, "Request"), Details: d.dict(2, "Details")}
			d.payload(3, &m.Payload)
			return m
		}
	case wamp.TypeRegister:
		if d.arity(t, 4, 4) {
			return &wamp.Register{Request: d.id(1, "Request"), Options: d.dict(2, "Options"), Procedure: d.uri(3, "Procedure")}
		}
	case wamp.TypeRegistered:
		if d.arity(t, 3, 3) {
			return &wamp.Registered{Request: d.id(1, "Request"), Registration: d.id(2, "Registration")}
		}
	case wamp.TypeUnregister:
		if d.arity(t, 3, 3) {
			return &wamp.Unregister{Request: d.id(1, "Request"), Registration: d.id(2, "Registration")}
		}
	case wamp.TypeUnregistered:
		if d.arity(t, 2, 3) {
			m := &wamp.Unregistered{Request: d.id(1, "Request")}
			if d.n == 3 {
				m.Details = d.dict(2, "Details")
			}
			return m
		}
	case wamp.TypeInvocation:
		if d.arity(t, 4, 6) {
			m := &wamp.Invocation{Request: d.id(1, "Request"), Registration: d.id(2, "Registration"), Details: d.dict(3, "Details")}
			d.payload(4, &m.Payload)
			return m
		}
	case wamp.TypeInterrupt:
		if d.arity(t, 3, 3) {
			return &wamp.Interrupt{Request: d.id(1, "Request"), Options: d.dict(2, "Options")}
		}
	case wamp.TypeYield:
		if d.arity(t, 3, 5) {
			m := &wamp.Yield{Request: d.id(1, "Request"), Options: d.dict(2, "Options")}
			d.payload(3, &m.Payload)
			return m
		}
	}
	return nil
}

// encoder appends a message's elements; the first error sticks.
type encoder struct {
	f    format
	self wamp.Format
	b    []byte
	n    int // elements written so far
	err  error
}

func (e *encoder) start(t wamp.MessageType, n int) {
	e.b = e.f.arrayStart(e.b, n)
	e.b = e.f.appendUint(e.b, uint64(t))
	e.n = 1
}

func (e *encoder) next() {
	e.b = e.f.sep(e.b)
	e.n++
}

// id appends an ID; one above 2^53 is an error, as it is when decoding.
func (e *encoder) id(v wamp.ID) {
	if v > wamp.MaxID && e.err == nil {
		e.err = fmt.Errorf("ID %d is larger than 2^53", v)
	}
	e.next()
	e.b = e.f.appendUint(e.b, uint64(v))
}

func (e *encoder) str(s string)     { e.next(); e.b = e.f.appendString(e.b, s) }
func (e *encoder) uri(u wamp.URI)   { e.str(string(u)) }
func (e *encoder) end()             { e.b = e.f.arrayEnd(e.b) }
func (e *encoder) value(v any)      { e.next(); e.appendValue(v) }
func (e *encoder) dict(d wamp.Dict) { e.value(d) }

func (e *encoder) appendValue(v any) {
	if e.err != nil {
		return
	}
	var err error
	e.b, err = e.f.appendValue(e.b, v)
	if err != nil {
		e.err = err
	}
}

// payloadLen is the number of elements the payload adds.
func payloadLen(p *wamp.Payload) int {
	switch {
	case p.Empty():
		return 0
	case p.IsRaw() && p.RawKwargs == nil, !p.IsRaw() && len(p.Kwargs) == 0:
		return 1
	}
	return 2
}

func (e *encoder) payload(p *wamp.Payload) {
	n := payloadLen(p)
	if n == 0 {
		return
	}
	if !p.IsRaw() {
		e.list(p.Args)
		if n == 2 {
			e.value(p.Kwargs)
		}
		return
	}
	e.raw(p.Format, p.RawArgs, kindList)
	if n == 2 {
		e.raw(p.Format, p.RawKwargs, kindDict)
	}
}

// list appends Arguments (nil as an empty list) without boxing the slice
// in an interface, which would allocate.
func (e *encoder) list(l wamp.List) {
	e.next()
	if e.err != nil {
		return
	}
	var err error
	if e.b, err = e.f.appendList(e.b, l); err != nil {
		e.err = err
	}
}

// raw appends a payload element held in serialization from, converting it
// when from is not this encoder's serialization.
func (e *encoder) raw(from wamp.Format, b []byte, k kind) {
	e.next()
	if e.err != nil {
		return
	}
	if b == nil { // kwargs without args: an empty list stands for args
		e.b, _ = e.f.appendList(e.b, nil)
		return
	}
	if from == e.self {
		e.b = append(e.b, b...)
		return
	}
	src := ByFormat(from)
	if src == nil {
		e.err = fmt.Errorf("payload in unknown serialization %d", from)
		return
	}
	v, err := src.(*codec).f.value(b)
	if err != nil {
		e.err = fmt.Errorf("converting payload from %s: %w", from, err)
		return
	}
	e.appendValue(v)
}

func (e *encoder) message(m wamp.Message) {
	switch m := m.(type) {
	case *wamp.Hello:
		e.start(m.Type(), 3)
		e.uri(m.Realm)
		e.dict(m.Details)
	case *wamp.Welcome:
		e.start(m.Type(), 3)
		e.id(m.Session)
		e.dict(m.Details)
	case *wamp.Abort:
		e.start(m.Type(), 3+payloadLen(&m.Payload))
		e.dict(m.Details)
		e.uri(m.Reason)
		e.payload(&m.Payload)
	case *wamp.Challenge:
		e.start(m.Type(), 3)
		e.str(m.AuthMethod)
		e.dict(m.Extra)
	case *wamp.Authenticate:
		e.start(m.Type(), 3)
		e.str(m.Signature)
		e.dict(m.Extra)
	case *wamp.Goodbye:
		e.start(m.Type(), 3)
		e.dict(m.Details)
		e.uri(m.Reason)
	case *wamp.Error:
		e.start(m.Type(), 5+payloadLen(&m.Payload))
		e.id(wamp.ID(m.RequestType))
		e.id(m.Request)
		e.dict(m.Details)
		e.uri(m.Error)
		e.payload(&m.Payload)
	case *wamp.Publish:
		e.start(m.Type(), 4+payloadLen(&m.Payload))
		e.id(m.Request)
		e.dict(m.Options)
		e.uri(m.Topic)
		e.payload(&m.Payload)
	case *wamp.Published:
		e.start(m.Type(), 3)
		e.id(m.Request)
		e.id(m.Publication)
	case *wamp.Subscribe:
		e.start(m.Type(), 4)
		e.id(m.Request)
		e.dict(m.Options)
		e.uri(m.Topic)
	case *wamp.Subscribed:
		e.start(m.Type(), 3)
		e.id(m.Request)
		e.id(m.Subscription)
	case *wamp.Unsubscribe:
		e.start(m.Type(), 3)
		e.id(m.Request)
		e.id(m.Subscription)
	case *wamp.Unsubscribed:
		if m.Details != nil {
			e.start(m.Type(), 3)
			e.id(m.Request)
			e.dict(m.Details)
		} else {
			e.start(m.Type(), 2)
			e.id(m.Request)
		}
	case *wamp.Event:
		e.start(m.Type(), 4+payloadLen(&m.Payload))
		e.id(m.Subscription)
		e.id(m.Publication)
		e.dict(m.Details)
		e.payload(&m.Payload)
	case *wamp.Call:
		e.start(m.Type(), 4+payloadLen(&m.Payload))
		e.id(m.Request)
		e.dict(m.Options)
		e.uri(m.Procedure)
		e.payload(&m.Payload)
	case *wamp.Cancel:
		e.start(m.Type(), 3)
		e.id(m.Request)
		e.dict(m.Options)
	case *wamp.Result:
		e.start(m.Type(), 3+payloadLen(&m.Payload))
		e.id(m.Request)
		e.dict(m.Details)
		e.payload(&m.Payload)
	case *wamp.Register:
		e.start(m.Type(), 4)
		e.id(m.Request)
		e.dict(m.Options)
		e.uri(m.Procedure)
	case *wamp.Registered:
		e.start(m.Type(), 3)
		e.id(m.Request)
		e.id(m.Registration)
	case *wamp.Unregister:
		e.start(m.Type(), 3)
		e.id(m.Request)
		e.id(m.Registration)
	case *wamp.Unregistered:
		if m.Details != nil {
			e.start(m.Type(), 3)
			e.id(m.Request)
			e.dict(m.Details)
		} else {
			e.start(m.Type(), 2)
			e.id(m.Request)
		}
	case *wamp.Invocation:
		e.start(m.Type(), 4+payloadLen(&m.Payload))
		e.id(m.Request)
		e.id(m.Registration)
		e.dict(m.Details)
		e.payload(&m.Payload)
	case *wamp.Interrupt:
		e.start(m.Type(), 3)
		e.id(m.Request)
		e.dict(m.Options)
	case *wamp.Yield:
		e.start(m.Type(), 3+payloadLen(&m.Payload))
		e.id(m.Request)
		e.dict(m.Options)
		e.payload(&m.Payload)
	case *wamp.Shared:
		e.message(m.Message)
		return
	default:
		e.err = fmt.Errorf("cannot encode message %T", m)
		return
	}
	e.end()
}
