package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// Event is one publication kept in the history.
type Event struct {
	Topic       wamp.URI
	Publication wamp.ID
	// Time is when the router accepted the publication. Append truncates it
	// to the millisecond, the precision get_events shows, so that a
	// timestamp a client read back compares as it expects; zero means now.
	Time time.Time
	// Details are the EVENT details the subscribers got (publisher
	// disclosure, trust level, ppt_*).
	Details wamp.Dict
	// Payload is raw (Format, RawArgs, RawKwargs) as received, or decoded
	// (Args, Kwargs). Query returns it raw.
	Payload wamp.Payload
	// Audience restricts who may read the event back, as the publication
	// restricted who received it.
	Audience Audience
}

// Audience is the subscriber black- and whitelisting of a publication by
// authid and authrole, the attributes that do not change while the router
// runs. (Publications restricted by session id are not kept at all: a
// session id means nothing after the session.)
type Audience struct {
	EligibleAuthIDs   []string
	EligibleAuthRoles []string
	ExcludeAuthIDs    []string
	ExcludeAuthRoles  []string
}

// Restricted reports whether the audience is narrower than every
// subscriber.
func (a *Audience) Restricted() bool {
	return a.EligibleAuthIDs != nil || a.EligibleAuthRoles != nil || len(a.ExcludeAuthIDs) > 0 || len(a.ExcludeAuthRoles) > 0
}

// Admits reports whether a session with authid and authrole would have
// received the publication. An eligible list that is present but empty
// admits no one, as in the black- and whitelisting specification.
func (a *Audience) Admits(authid, authrole string) bool {
	if a.EligibleAuthIDs != nil && !slices.Contains(a.EligibleAuthIDs, authid) {
		return false
	}
	if a.EligibleAuthRoles != nil && !slices.Contains(a.EligibleAuthRoles, authrole) {
		return false
	}
	return !slices.Contains(a.ExcludeAuthIDs, authid) && !slices.Contains(a.ExcludeAuthRoles, authrole)
}

// A record is an encoded event:
//
//	version   1 byte (recordVersion)
//	time      8 bytes, big-endian Unix milliseconds
//	pub       8 bytes, big-endian publication id
//	format    1 byte, the payload's wamp.Format (CBOR for a decoded payload)
//	flags     1 byte: flagArgs, flagKwargs, flagAudience
//	topic, details (CBOR map, empty when none), args, kwargs: each a
//	uvarint length and the bytes
//	audience  when flagAudience: four lists (eligible authids, eligible
//	          authroles, exclude authids, exclude authroles), each a uvarint
//	          count+1 (0 for an absent list) and length-prefixed strings
const (
	recordVersion = 1
	headerLen     = 19

	flagArgs     = 1 << 0
	flagKwargs   = 1 << 1
	flagAudience = 1 << 2
)

var errCorrupt = errors.New("history record is corrupt")

// encodeRecord appends ev's record to dst, copying everything ev refers
// to.
func encodeRecord(dst []byte, ev *Event) ([]byte, error) {
	var details []byte
	if len(ev.Details) > 0 {
		var err error
		if details, err = cbor.Marshal(ev.Details); err != nil {
			return nil, fmt.Errorf("encoding event details: %w", err)
		}
	}
	p := &ev.Payload
	format := p.Format
	args, kwargs := p.RawArgs, p.RawKwargs
	hasArgs, hasKwargs := args != nil, kwargs != nil
	if !p.IsRaw() {
		format = wamp.FormatCBOR
		hasArgs, hasKwargs = p.Args != nil, p.Kwargs != nil
		var err error
		if hasArgs {
			if args, err = cbor.Marshal(p.Args); err != nil {
				return nil, fmt.Errorf("encoding event arguments: %w", err)
			}
		}
		if hasKwargs {
			if kwargs, err = cbor.Marshal(p.Kwargs); err != nil {
				return nil, fmt.Errorf("encoding event keyword arguments: %w", err)
			}
		}
	}
	var flags byte
	if hasArgs {
		flags |= flagArgs
	}
	if hasKwargs {
		flags |= flagKwargs
	}
	restricted := ev.Audience.Restricted()
	if restricted {
		flags |= flagAudience
	}
	n := headerLen + 4*binary.MaxVarintLen64 + len(ev.Topic) + len(details) + len(args) + len(kwargs)
	start := len(dst)
	b := slices.Grow(dst, n)[:start+headerLen]
	h := b[start:]
	h[0] = recordVersion
	binary.BigEndian.PutUint64(h[1:], uint64(ev.Time.UnixMilli()))
	binary.BigEndian.PutUint64(h[9:], uint64(ev.Publication))
	h[17] = byte(format)
	h[18] = flags
	b = appendBytes(b, []byte(ev.Topic))
	b = appendBytes(b, details)
	b = appendBytes(b, args)
	b = appendBytes(b, kwargs)
	if restricted {
		a := &ev.Audience
		for _, l := range [...][]string{a.EligibleAuthIDs, a.EligibleAuthRoles, a.ExcludeAuthIDs, a.ExcludeAuthRoles} {
			if l == nil {
				b = binary.AppendUvarint(b, 0)
				continue
			}
			b = binary.AppendUvarint(b, uint64(len(l))+1)
			for _, s := range l {
				b = appendBytes(b, []byte(s))
			}
		}
	}
	return b, nil
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// recordView is a decoded record whose slices point into the bytes it was
// read from (bbolt's memory map, valid only in the transaction).
type recordView struct {
	time    int64 // Unix milliseconds
	pub     wamp.ID
	format  wamp.Format
	flags   byte
	topic   []byte
	details []byte
	args    []byte
	kwargs  []byte
	rest    []byte // the audience, when flagAudience
}

// recordPublication reads only a record's publication id.
func recordPublication(b []byte) (wamp.ID, error) {
	if len(b) < headerLen || b[0] != recordVersion {
		return 0, errCorrupt
	}
	return wamp.ID(binary.BigEndian.Uint64(b[9:])), nil
}

func viewRecord(b []byte) (recordView, error) {
	var v recordView
	if len(b) < headerLen || b[0] != recordVersion {
		return v, errCorrupt
	}
	v.time = int64(binary.BigEndian.Uint64(b[1:]))
	v.pub = wamp.ID(binary.BigEndian.Uint64(b[9:]))
	v.format = wamp.Format(b[17])
	v.flags = b[18]
	b = b[headerLen:]
	var ok bool
	for _, f := range [...]*[]byte{&v.topic, &v.details, &v.args, &v.kwargs} {
		if *f, b, ok = readBytes(b); !ok {
			return v, errCorrupt
		}
	}
	v.rest = b
	return v, nil
}

func readBytes(b []byte) (v, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}

// audience decodes the record's audience (none when not restricted).
func (v *recordView) audience() (Audience, error) {
	var a Audience
	if v.flags&flagAudience == 0 {
		return a, nil
	}
	b := v.rest
	for _, l := range [...]*[]string{&a.EligibleAuthIDs, &a.EligibleAuthRoles, &a.ExcludeAuthIDs, &a.ExcludeAuthRoles} {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)) {
			return a, errCorrupt
		}
		b = b[k:]
		if n == 0 {
			continue
		}
		*l = make([]string, 0, n-1)
		for range n - 1 {
			s, rest, ok := readBytes(b)
			if !ok {
				return a, errCorrupt
			}
			*l = append(*l, string(s))
			b = rest
		}
	}
	return a, nil
}

// event copies the record out into an Event.
func (v *recordView) event() (Event, error) {
	ev := Event{
		Topic:       wamp.URI(v.topic),
		Publication: v.pub,
		Time:        time.UnixMilli(v.time).UTC(),
		Payload:     wamp.Payload{Format: v.format},
	}
	if v.flags&flagArgs != 0 {
		ev.Payload.RawArgs = slices.Clone(v.args)
		if ev.Payload.RawArgs == nil {
			ev.Payload.RawArgs = []byte{}
		}
	}
	if v.flags&flagKwargs != 0 {
		ev.Payload.RawKwargs = slices.Clone(v.kwargs)
		if ev.Payload.RawKwargs == nil {
			ev.Payload.RawKwargs = []byte{}
		}
	}
	if len(v.details) > 0 {
		// Decoded by the codec, so that the values are in its value model
		// like those of any decoded message.
		_, d, err := codec.DecodePayload(&wamp.Payload{Format: wamp.FormatCBOR, RawKwargs: v.details})
		if err != nil {
			return ev, fmt.Errorf("decoding stored event details: %w", err)
		}
		ev.Details = d
	}
	var err error
	if ev.Audience, err = v.audience(); err != nil {
		return ev, err
	}
	return ev, nil
}
