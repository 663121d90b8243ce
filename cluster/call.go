package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

var _ router.Backbone = (*Node)(nil)

// A message of a call crosses NATS (N.call.<node>) as a version byte, the
// serializer's format byte, the sending node's id (8 bytes), the realm's
// length (uvarint) and name, and the WAMP message in that serializer: the
// one its payload arrived in, so that it crosses unconverted, or
// MessagePack for a payload the router built.
const callVersion = 1

func encodeCallMessage(from uint64, realm wamp.URI, m wamp.Message) ([]byte, error) {
	c := codec.MsgPack
	if p := payloadOf(m); p != nil && p.IsRaw() {
		if c = codec.ByFormat(p.Format); c == nil {
			return nil, fmt.Errorf("payload in unknown format %d", p.Format)
		}
	}
	dst := make([]byte, 0, 64+len(realm))
	dst = append(dst, callVersion, byte(c.Format()))
	dst = binary.BigEndian.AppendUint64(dst, from)
	dst = binary.AppendUvarint(dst, uint64(len(realm)))
	dst = append(dst, realm...)
	return c.Encode(dst, m)
}

func decodeCallMessage(data []byte) (from uint64, realm wamp.URI, m wamp.Message, err error) {
	if len(data) < 11 || data[0] != callVersion {
		return 0, "", nil, errors.New("not a call message of this version")
	}
	c := codec.ByFormat(wamp.Format(data[1]))
	if c == nil {
		return 0, "", nil, fmt.Errorf("unknown serializer %d", data[1])
	}
	from = binary.BigEndian.Uint64(data[2:10])
	l, k := binary.Uvarint(data[10:])
	if k <= 0 || uint64(len(data)-10-k) < l {
		return 0, "", nil, errors.New("bad realm length")
	}
	realm = wamp.URI(data[10+k : 10+k+int(l)])
	m, err = c.Decode(data[10+k+int(l):])
	return from, realm, m, err
}

func payloadOf(m wamp.Message) *wamp.Payload {
	switch m := m.(type) {
	case *wamp.Invocation:
		return &m.Payload
	case *wamp.Result:
		return &m.Payload
	case *wamp.Error:
		return &m.Payload
	}
	return nil
}

// Forward implements router.Backbone: it sends a message of a call in
// flight to the node at the call's other end.
func (n *Node) Forward(node uint64, realm wamp.URI, m wamp.Message) error {
	data, err := encodeCallMessage(n.id, realm, m)
	if err != nil {
		n.stats.SendFailures.Add(1)
		return fmt.Errorf("encoding a %s for another node: %w", m.Type(), err)
	}
	if err := n.nc.Publish(n.subj.callPrefix+strconv.FormatUint(node, 16), data); err != nil {
		n.stats.SendFailures.Add(1)
		n.log.Warn("cluster: NATS refused a call message", "type", m.Type(), "bytes", len(data), "err", err)
		if errors.Is(err, nats.ErrMaxPayload) {
			return fmt.Errorf("%w: %d bytes, more than NATS takes (%d)", router.ErrTooLarge, len(data), n.nc.MaxPayload())
		}
		return err
	}
	n.stats.CallMessagesSent.Add(1)
	return nil
}

// onCall hands the router a message of a call from another node.
func (n *Node) onCall(msg *nats.Msg) {
	from, realm, m, err := decodeCallMessage(msg.Data)
	if err != nil {
		n.stats.BadMessages.Add(1)
		n.log.Warn("cluster: a call message from another node does not decode", "err", err)
		return
	}
	rt := n.rt.Load()
	if rt == nil {
		return
	}
	n.stats.CallMessagesReceived.Add(1)
	if err := rt.DeliverCallMessage(from, realm, m); err != nil {
		n.stats.BadMessages.Add(1)
		n.log.Warn("cluster: a call message from another node was refused", "realm", realm, "type", m.Type(), "err", err)
	}
}
