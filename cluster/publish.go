package cluster

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// A publication crosses NATS as a version byte, the serializer's format
// byte, and a WAMP PUBLISH in that serializer: Request is the publication
// id, Options carry "realm", the EVENT "details" and the subscriber-filtering
// "options" (router.Publication), and the payload is the publisher's own
// bytes. The serializer is the one the payload was received in, so a raw
// payload crosses without being converted; a payload the router built
// (meta events) goes in MessagePack.
const publicationVersion = 1

func encodePublication(p *router.Publication) ([]byte, error) {
	c := codec.MsgPack
	if p.Payload.IsRaw() {
		if c = codec.ByFormat(p.Payload.Format); c == nil {
			return nil, fmt.Errorf("payload in unknown format %d", p.Payload.Format)
		}
	}
	opts := wamp.Dict{"realm": string(p.Realm)}
	if p.Details != nil {
		opts["details"] = p.Details
	}
	if p.Options != nil {
		opts["options"] = p.Options
	}
	dst := make([]byte, 2, 64+p.Payload.Size())
	dst[0], dst[1] = publicationVersion, byte(c.Format())
	return c.Encode(dst, &wamp.Publish{Request: p.ID, Options: opts, Topic: p.Topic, Payload: p.Payload})
}

func decodePublication(data []byte) (*router.Publication, error) {
	if len(data) < 2 || data[0] != publicationVersion {
		return nil, errors.New("not a publication of this version")
	}
	c := codec.ByFormat(wamp.Format(data[1]))
	if c == nil {
		return nil, fmt.Errorf("unknown serializer %d", data[1])
	}
	m, err := c.Decode(data[2:])
	if err != nil {
		return nil, err
	}
	pub, ok := m.(*wamp.Publish)
	if !ok {
		return nil, fmt.Errorf("a %s, not a PUBLISH", m.Type())
	}
	realm, _ := pub.Options["realm"].(string)
	if realm == "" {
		return nil, errors.New("no realm")
	}
	p := &router.Publication{Realm: wamp.URI(realm), Topic: pub.Topic, ID: pub.Request, Payload: pub.Payload}
	for key, dst := range map[string]*wamp.Dict{"details": &p.Details, "options": &p.Options} {
		if v, present := pub.Options[key]; present {
			d, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s is a %s, not a dict", key, wamp.TypeName(v))
			}
			*dst = d
		}
	}
	return p, nil
}

// Publish implements router.Backbone: it sends the publication once to
// each other node that has a matching subscription.
func (n *Node) Publish(p *router.Publication) {
	var buf [8]uint64
	ids := n.members.interested(p.Realm, p.Topic, buf[:0])
	if len(ids) == 0 {
		return
	}
	data, err := encodePublication(p)
	if err != nil {
		n.stats.SendFailures.Add(1)
		n.log.Warn("cluster: a publication cannot cross to other nodes", "realm", p.Realm, "topic", p.Topic, "err", err)
		return
	}
	for _, id := range ids {
		if n.send(n.subj.pubPrefix+strconv.FormatUint(id, 16), data) {
			n.stats.PublicationsSent.Add(1)
		}
	}
}

// onPublication delivers a publication from another node to this node's
// subscribers.
func (n *Node) onPublication(m *nats.Msg) {
	p, err := decodePublication(m.Data)
	if err != nil {
		n.stats.BadMessages.Add(1)
		n.log.Warn("cluster: a publication from another node does not decode", "err", err)
		return
	}
	rt := n.rt.Load()
	if rt == nil {
		return
	}
	if err := rt.DeliverPublication(p); err != nil {
		n.stats.BadMessages.Add(1)
		n.log.Warn("cluster: a publication from another node has bad options", "realm", p.Realm, "topic", p.Topic, "err", err)
		return
	}
	n.stats.PublicationsReceived.Add(1)
}
