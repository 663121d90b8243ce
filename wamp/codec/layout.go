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
	elements
	err error // the message cannot be read
	// request is set once the type and request id of a request the
	// receiver answers with ERROR have been read (see RequestError); from
	// then on a bad Options or payload is invalid rather than err.
	request bool
	invalid error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

// reject records a problem with what the options, details or payload hold
// (an element of the wrong kind is not a WAMP message, and fails): it ends
// the reading of a request only for that part (Decode returns a
// *RequestError), and of any other message for good.
func (d *decoder) reject(format string, args ...any) {
	if !d.request {
		d.fail(format, args...)
		return
	}
	if d.invalid == nil {
		d.invalid = fmt.Errorf(format, args...)
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

// requestID reads the id of a request the receiver answers with ERROR.
func (d *decoder) requestID(i int) wamp.ID {
	id := d.id(i, "Request")
	d.request = d.err == nil
	return id
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

// dict reads Options, Details or Extra. A value with no WAMP meaning (a
// MessagePack extension, a CBOR simple value) reads as absent there: some
// clients encode their unset options that way (header in value.go).
func (d *decoder) dict(i int, what string) wamp.Dict {
	if d.err != nil || d.invalid != nil {
		return nil
	}
	if d.f.kind(d.el[i]) != kindDict {
		d.fail("%s must be a dict", what) // not a WAMP message at all
		return nil
	}
	if d.f.emptyDict(d.el[i]) {
		return nil
	}
	m, err := d.f.header(d.el[i])
	if err != nil {
		d.reject("%s: %w", what, err)
		return nil
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// payload reads the optional Arguments|list and ArgumentsKw|dict at i, i+1.
// A request's payload must be valid (see RequestError), since the receiver
// forwards it; another message's need only be well-formed.
func (d *decoder) payload(i int, p *wamp.Payload) {
	if d.err != nil || d.invalid != nil || d.n <= i {
		return
	}
	if d.f.kind(d.el[i]) != kindList {
		d.fail("Arguments must be a list")
		return
	}
	if err := d.check(i); err != nil {
		d.reject("Arguments: %w", err)
		return
	}
	var kwargs []byte
	if d.n > i+1 {
		if d.f.kind(d.el[i+1]) != kindDict {
			d.fail("ArgumentsKw must be a dict")
			return
		}
		if err := d.check(i + 1); err != nil {
			d.reject("ArgumentsKw: %w", err)
			return
		}
		kwargs = d.el[i+1]
	}
	p.Format, p.RawArgs, p.RawKwargs = d.self, d.el[i], kwargs
}

// check checks payload element i: valid for a request (split has done
// it), well-formed otherwise.
func (d *decoder) check(i int) error {
	if !d.request {
		return d.f.wellFormed(d.el[i])
	}
	if d.badAt == i {
		return d.bad
	}
	return nil
}

// checkedFrom returns the index of the first payload element of a message
// whose values split must check (elements.bad): the Arguments of a request
// whose payload its receiver forwards (PUBLISH, CALL, YIELD, ERROR for an
// INVOCATION); maxElements for other messages. el0 and el1 are the
// message's first two elements.
func checkedFrom[F interface{ uint([]byte) (uint64, error) }](f F, el0, el1 []byte) int {
	t, _ := f.uint(el0)
	switch wamp.MessageType(t) {
	case wamp.TypePublish, wamp.TypeCall:
		return 4
	case wamp.TypeYield:
		return 3
	case wamp.TypeError:
		if rt, _ := f.uint(el1); rt == uint64(wamp.TypeInvocation) {
			return 5
		}
	}
	return maxElements
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
			if rt > 255 {
				d.fail("REQUEST.Type %d is not a message type", rt)
			}
			m := &wamp.Error{RequestType: wamp.MessageType(rt)}
			if m.RequestType == wamp.TypeInvocation { // a callee's answer
				m.Request = d.requestID(2)
			} else {
				m.Request = d.id(2, "Request")
			}
			m.Details, m.Error = d.dict(3, "Details"), d.uri(4, "Error")
			d.payload(5, &m.Payload)
			return m
		}
	case wamp.TypePublish:
		if d.arity(t, 4, 6) {
			m := &wamp.Publish{Request: d.requestID(1), Options: d.dict(2, "Options"), Topic: d.uri(3, "Topic")}
			d.payload(4, &m.Payload)
			return m
		}
	case wamp.TypePublished:
		if d.arity(t, 3, 3) {
			return &wamp.Published{Request: d.id(1, "Request"), Publication: d.id(2, "Publication")}
		}
	case wamp.TypeSubscribe:
		if d.arity(t, 4, 4) {
			return &wamp.Subscribe{Request: d.requestID(1), Options: d.dict(2, "Options"), Topic: d.uri(3, "Topic")}
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
			m := &wamp.Call{Request: d.requestID(1), Options: d.dict(2, "Options"), Procedure: d.uri(3, "Procedure")}
			d.payload(4, &m.Payload)
			return m
		}
	case wamp.TypeCancel:
		if d.arity(t, 3, 3) {
			return &wamp.Cancel{Request: d.requestID(1), Options: d.dict(2, "Options")}
		}
	case wamp.TypeResult:
		if d.arity(t, 3, 5) {
			m := &wamp.Result{Request: d.id(1, "Request"), Details: d.dict(2, "Details")}
			d.payload(3, &m.Payload)
			return m
		}
	case wamp.TypeRegister:
		if d.arity(t, 4, 4) {
			return &wamp.Register{Request: d.requestID(1), Options: d.dict(2, "Options"), Procedure: d.uri(3, "Procedure")}
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
			m := &wamp.Yield{Request: d.requestID(1), Options: d.dict(2, "Options")}
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
