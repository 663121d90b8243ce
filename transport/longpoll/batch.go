package longpoll

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/junction-wamp/junction/wamp/codec"
)

// protocol is one of the long-poll protocols: a serialization, batched or
// not.
type protocol struct {
	name    string
	codec   codec.Codec
	batched bool
}

// protocols lists what /open accepts, in the server's order of preference
// when a client offers several (the client's order decides first).
var protocols = []protocol{
	{"wamp.2.json.batched", codec.JSON, true},
	{"wamp.2.json", codec.JSON, false},
	{"wamp.2.msgpack.batched", codec.MsgPack, true},
	{"wamp.2.msgpack", codec.MsgPack, false},
	{"wamp.2.cbor.batched", codec.CBOR, true},
	{"wamp.2.cbor", codec.CBOR, false},
}

func protocolNamed(name string) (protocol, bool) {
	for _, p := range protocols {
		if p.name == name {
			return p, true
		}
	}
	return protocol{}, false
}

// contentType is the Content-Type of what a receive answers.
func (p protocol) contentType() string {
	switch p.codec {
	case codec.MsgPack:
		return "application/x-msgpack"
	case codec.CBOR:
		return "application/cbor"
	}
	return "application/json; charset=utf-8"
}

// The batched framing is WAMP's over WebSocket: in JSON each message is
// followed by the ASCII record separator 0x1E (JSON text cannot hold a raw
// control character, so the separator never occurs inside a message); in
// MessagePack and CBOR each message is preceded by its length as a 32-bit
// big-endian integer.
const recordSeparator = 0x1e

// appendFrame appends one encoded message b to dst in p's batched framing.
func (p protocol) appendFrame(dst, b []byte) []byte {
	if p.codec == codec.JSON {
		return append(append(dst, b...), recordSeparator)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// errEmptyBatch is a batched send with no message in it.
var errEmptyBatch = errors.New("an empty batch")

// splitBatch cuts a batched request body into its messages (slices of
// body). Malformed framing (a length beyond the body, a JSON batch whose
// last message lacks its separator) is an error naming the offset.
func (p protocol) splitBatch(body []byte) ([][]byte, error) {
	var out [][]byte
	if p.codec == codec.JSON {
		for off := 0; off < len(body); {
			i := bytes.IndexByte(body[off:], recordSeparator)
			if i < 0 {
				return nil, fmt.Errorf("batch: the message at byte %d has no record separator (0x1E) after it", off)
			}
			if i == 0 {
				return nil, fmt.Errorf("batch: an empty message at byte %d", off)
			}
			out = append(out, body[off:off+i])
			off += i + 1
		}
	} else {
		for off := 0; off < len(body); {
			if len(body)-off < 4 {
				return nil, fmt.Errorf("batch: %d bytes at byte %d where a 4-byte length belongs", len(body)-off, off)
			}
			n := binary.BigEndian.Uint32(body[off:])
			off += 4
			if n == 0 {
				return nil, fmt.Errorf("batch: an empty message at byte %d", off-4)
			}
			if uint64(n) > uint64(len(body)-off) {
				return nil, fmt.Errorf("batch: the message at byte %d says it has %d bytes, the body has %d more", off-4, n, len(body)-off)
			}
			out = append(out, body[off:off+int(n)])
			off += int(n)
		}
	}
	if len(out) == 0 {
		return nil, errEmptyBatch
	}
	return out, nil
}
