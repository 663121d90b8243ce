package wamp

import (
	"fmt"
	"slices"
	"sync/atomic"
)

// MessageType is the integer code that starts every WAMP message.
type MessageType uint8

// Message type codes (Basic and Advanced Profile).
const (
	TypeHello        MessageType = 1
	TypeWelcome      MessageType = 2
	TypeAbort        MessageType = 3
	TypeChallenge    MessageType = 4
	TypeAuthenticate MessageType = 5
	TypeGoodbye      MessageType = 6
	TypeError        MessageType = 8
	TypePublish      MessageType = 16
	TypePublished    MessageType = 17
	TypeSubscribe    MessageType = 32
	TypeSubscribed   MessageType = 33
	TypeUnsubscribe  MessageType = 34
	TypeUnsubscribed MessageType = 35
	TypeEvent        MessageType = 36
	TypeCall         MessageType = 48
	TypeCancel       MessageType = 49
	TypeResult       MessageType = 50
	TypeRegister     MessageType = 64
	TypeRegistered   MessageType = 65
	TypeUnregister   MessageType = 66
	TypeUnregistered MessageType = 67
	TypeInvocation   MessageType = 68
	TypeInterrupt    MessageType = 69
	TypeYield        MessageType = 70
)

var typeNames = [...]string{
	TypeHello: "HELLO", TypeWelcome: "WELCOME", TypeAbort: "ABORT",
	TypeChallenge: "CHALLENGE", TypeAuthenticate: "AUTHENTICATE",
	TypeGoodbye: "GOODBYE", TypeError: "ERROR", TypePublish: "PUBLISH",
	TypePublished: "PUBLISHED", TypeSubscribe: "SUBSCRIBE",
	TypeSubscribed: "SUBSCRIBED", TypeUnsubscribe: "UNSUBSCRIBE",
	TypeUnsubscribed: "UNSUBSCRIBED", TypeEvent: "EVENT", TypeCall: "CALL",
	TypeCancel: "CANCEL", TypeResult: "RESULT", TypeRegister: "REGISTER",
	TypeRegistered: "REGISTERED", TypeUnregister: "UNREGISTER",
	TypeUnregistered: "UNREGISTERED", TypeInvocation: "INVOCATION",
	TypeInterrupt: "INTERRUPT", TypeYield: "YIELD",
}

// String returns the name the specification uses, e.g. "CALL".
func (t MessageType) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// Known reports whether t is a message type this package defines.
func (t MessageType) Known() bool {
	return int(t) < len(typeNames) && typeNames[t] != ""
}

// Message is one WAMP message.
type Message interface {
	Type() MessageType
}

// Payload is a message's application data: Arguments|list and
// ArgumentsKw|dict, both optional.
//
// A payload built in Go holds decoded values in Args and Kwargs. A payload
// decoded from the network is kept raw: Format names the serializer and
// RawArgs/RawKwargs hold the encoded list and dict exactly as received, so a
// router forwards them without decoding when the receiver speaks the same
// serializer and converts them once per serializer when it does not.
type Payload struct {
	Args   List
	Kwargs Dict

	Format    Format
	RawArgs   []byte
	RawKwargs []byte
}

// Own copies a raw payload's bytes, which alias the buffer the message was
// decoded from, so that the payload may be kept after that buffer is
// reused (a held message, a retained event).
func (p *Payload) Own() {
	p.RawArgs = slices.Clone(p.RawArgs)
	p.RawKwargs = slices.Clone(p.RawKwargs)
}

// IsRaw reports whether the payload is held encoded.
func (p *Payload) IsRaw() bool { return p.Format != FormatNone }

// Empty reports whether the payload carries neither arguments nor keyword
// arguments, so that the optional elements are left out on the wire.
func (p *Payload) Empty() bool {
	if p.IsRaw() {
		return p.RawArgs == nil && p.RawKwargs == nil
	}
	return len(p.Args) == 0 && len(p.Kwargs) == 0
}

// Size is the number of encoded payload bytes (0 for a decoded payload); it
// lets a router account for what it queues without encoding.
func (p *Payload) Size() int { return len(p.RawArgs) + len(p.RawKwargs) }

// Format identifies a serializer. The values are those of the RawSocket
// handshake.
type Format uint8

// Serializers.
const (
	FormatNone    Format = 0
	FormatJSON    Format = 1
	FormatMsgPack Format = 2
	FormatCBOR    Format = 3
)

// NumFormats bounds the Format values; arrays indexed by Format use it.
const NumFormats = 4

func (f Format) String() string {
	switch f {
	case FormatJSON:
		return "json"
	case FormatMsgPack:
		return "msgpack"
	case FormatCBOR:
		return "cbor"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// Shared wraps a message that is sent unchanged to many receivers, such as an
// EVENT fanned out to the subscribers of a topic. Encoders keep the encoding
// for each serializer here, so N receivers cost one encoding per serializer
// in use rather than N, and so does a message one serializer cannot carry
// (NaN for JSON): one failed conversion, not N. It is safe for concurrent
// use.
type Shared struct {
	Message
	encoded [NumFormats]atomic.Pointer[encoding]
	// compressed holds, per serializer, the encoding compressed as a
	// transport compresses it (WebSocket permessage-deflate), so that N
	// receivers on compressing connections cost one compression per
	// serializer rather than N.
	compressed [NumFormats]atomic.Pointer[[]byte]
}

// encoding is a Shared message's encoding for one serializer, or why there
// is none.
type encoding struct {
	b   []byte
	err error
}

// NewShared wraps m for fan-out.
func NewShared(m Message) *Shared { return &Shared{Message: m} }

// Encoded returns the cached encoding of the message for f, or nil.
func (s *Shared) Encoded(f Format) []byte {
	if f >= NumFormats {
		return nil
	}
	if p := s.encoded[f].Load(); p != nil {
		return p.b
	}
	return nil
}

// EncodeError returns the error that encoding the message for f gave, or
// nil.
func (s *Shared) EncodeError(f Format) error {
	if f >= NumFormats {
		return nil
	}
	if p := s.encoded[f].Load(); p != nil {
		return p.err
	}
	return nil
}

// SetEncoded stores the encoding for f. The bytes must not change afterwards.
// An f that is not a known Format is ignored.
func (s *Shared) SetEncoded(f Format, b []byte) {
	if f < NumFormats {
		s.encoded[f].Store(&encoding{b: b})
	}
}

// SetEncodeError stores the error encoding for f gave, which the next
// receivers in f get without another attempt.
func (s *Shared) SetEncodeError(f Format, err error) {
	if f < NumFormats {
		s.encoded[f].Store(&encoding{err: err})
	}
}

// Compressed returns the cached compressed encoding for f (see
// SetCompressed): known is false when none was stored, and b is nil when
// the transport found the message not worth compressing.
func (s *Shared) Compressed(f Format) (b []byte, known bool) {
	if f >= NumFormats {
		return nil, false
	}
	if p := s.compressed[f].Load(); p != nil {
		return *p, true
	}
	return nil, false
}

// SetCompressed stores the compressed encoding for f, nil for "send it
// uncompressed". The bytes must not change afterwards. An f that is not a
// known Format is ignored.
func (s *Shared) SetCompressed(f Format, b []byte) {
	if f < NumFormats {
		s.compressed[f].Store(&b)
	}
}

// Unwrap returns the message inside a Shared, or m itself.
func Unwrap(m Message) Message {
	if s, ok := m.(*Shared); ok {
		return s.Message
	}
	return m
}

// Hello is [HELLO, Realm|uri, Details|dict].
type Hello struct {
	Realm   URI
	Details Dict
}

// Welcome is [WELCOME, Session|id, Details|dict].
type Welcome struct {
	Session ID
	Details Dict
}

// Abort is [ABORT, Details|dict, Reason|uri, Arguments|list, ArgumentsKw|dict].
type Abort struct {
	Details Dict
	Reason  URI
	Payload
}

// Challenge is [CHALLENGE, AuthMethod|string, Extra|dict].
type Challenge struct {
	AuthMethod string
	Extra      Dict
}

// Authenticate is [AUTHENTICATE, Signature|string, Extra|dict].
type Authenticate struct {
	Signature string
	Extra     Dict
}

// Goodbye is [GOODBYE, Details|dict, Reason|uri].
type Goodbye struct {
	Details Dict
	Reason  URI
}

// Error is [ERROR, REQUEST.Type|int, REQUEST.Request|id, Details|dict,
// Error|uri, Arguments|list, ArgumentsKw|dict].
type Error struct {
	RequestType MessageType
	Request     ID
	Details     Dict
	Error       URI
	Payload
}

// Publish is [PUBLISH, Request|id, Options|dict, Topic|uri, Arguments|list,
// ArgumentsKw|dict].
type Publish struct {
	Request ID
	Options Dict
	Topic   URI
	Payload
}

// Published is [PUBLISHED, PUBLISH.Request|id, Publication|id].
type Published struct {
	Request     ID
	Publication ID
}

// Subscribe is [SUBSCRIBE, Request|id, Options|dict, Topic|uri].
type Subscribe struct {
	Request ID
	Options Dict
	Topic   URI
}

// Subscribed is [SUBSCRIBED, SUBSCRIBE.Request|id, Subscription|id].
type Subscribed struct {
	Request      ID
	Subscription ID
}

// Unsubscribe is [UNSUBSCRIBE, Request|id, SUBSCRIBED.Subscription|id].
type Unsubscribe struct {
	Request      ID
	Subscription ID
}

// Unsubscribed is [UNSUBSCRIBED, UNSUBSCRIBE.Request|id] or, with Details
// (Advanced Profile, subscription revocation), [UNSUBSCRIBED, 0, Details|dict].
type Unsubscribed struct {
	Request ID
	Details Dict
}

// Event is [EVENT, SUBSCRIBED.Subscription|id, PUBLISHED.Publication|id,
// Details|dict, Arguments|list, ArgumentsKw|dict].
type Event struct {
	Subscription ID
	Publication  ID
	Details      Dict
	Payload
}

// Call is [CALL, Request|id, Options|dict, Procedure|uri, Arguments|list,
// ArgumentsKw|dict].
type Call struct {
	Request   ID
	Options   Dict
	Procedure URI
	Payload
}

// Cancel is [CANCEL, CALL.Request|id, Options|dict].
type Cancel struct {
	Request ID
	Options Dict
}

// Result is [RESULT, CALL.Request|id, Details|dict, Arguments|list,
// ArgumentsKw|dict].
type Result struct {
	Request ID
	Details Dict
	Payload
}

// Register is [REGISTER, Request|id, Options|dict, Procedure|uri].
type Register struct {
	Request   ID
	Options   Dict
	Procedure URI
}

// Registered is [REGISTERED, REGISTER.Request|id, Registration|id].
type Registered struct {
	Request      ID
	Registration ID
}

// Unregister is [UNREGISTER, Request|id, REGISTERED.Registration|id].
type Unregister struct {
	Request      ID
	Registration ID
}

// Unregistered is [UNREGISTERED, UNREGISTER.Request|id] or, with Details
// (Advanced Profile, registration revocation), [UNREGISTERED, 0, Details|dict].
type Unregistered struct {
	Request ID
	Details Dict
}

// Invocation is [INVOCATION, Request|id, REGISTERED.Registration|id,
// Details|dict, Arguments|list, ArgumentsKw|dict].
type Invocation struct {
	Request      ID
	Registration ID
	Details      Dict
	Payload
}

// Interrupt is [INTERRUPT, INVOCATION.Request|id, Options|dict].
type Interrupt struct {
	Request ID
	Options Dict
}

// Yield is [YIELD, INVOCATION.Request|id, Options|dict, Arguments|list,
// ArgumentsKw|dict].
type Yield struct {
	Request ID
	Options Dict
	Payload
}

func (*Hello) Type() MessageType        { return TypeHello }
func (*Welcome) Type() MessageType      { return TypeWelcome }
func (*Abort) Type() MessageType        { return TypeAbort }
func (*Challenge) Type() MessageType    { return TypeChallenge }
func (*Authenticate) Type() MessageType { return TypeAuthenticate }
func (*Goodbye) Type() MessageType      { return TypeGoodbye }
func (*Error) Type() MessageType        { return TypeError }
func (*Publish) Type() MessageType      { return TypePublish }
func (*Published) Type() MessageType    { return TypePublished }
func (*Subscribe) Type() MessageType    { return TypeSubscribe }
func (*Subscribed) Type() MessageType   { return TypeSubscribed }
func (*Unsubscribe) Type() MessageType  { return TypeUnsubscribe }
func (*Unsubscribed) Type() MessageType { return TypeUnsubscribed }
func (*Event) Type() MessageType        { return TypeEvent }
func (*Call) Type() MessageType         { return TypeCall }
func (*Cancel) Type() MessageType       { return TypeCancel }
func (*Result) Type() MessageType       { return TypeResult }
func (*Register) Type() MessageType     { return TypeRegister }
func (*Registered) Type() MessageType   { return TypeRegistered }
func (*Unregister) Type() MessageType   { return TypeUnregister }
func (*Unregistered) Type() MessageType { return TypeUnregistered }
func (*Invocation) Type() MessageType   { return TypeInvocation }
func (*Interrupt) Type() MessageType    { return TypeInterrupt }
func (*Yield) Type() MessageType        { return TypeYield }
