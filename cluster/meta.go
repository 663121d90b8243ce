package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// Meta queries (router.Backbone.Gather). A node that answers a meta
// procedure for the whole cluster broadcasts the call on N.meta with a
// reply subject of its own (N.ans.<node>.<nonce>); every other node
// answers there with its part (router.Router.AnswerMeta). The asking node
// waits for the nodes it takes for alive when it asks, at most
// QueryTimeout; a node that has not answered by then is left out,
// counted (Stats.MetaNodesMissing) and logged.
//
// Both cross in MessagePack: the query as a CALL (Request the nonce,
// Options the realm, the asking node and the caller), the answer as a
// RESULT or an ERROR (Details the answering node), each after a version
// byte.
const metaVersion = 1

func encodeMetaQuery(from, nonce uint64, q *router.MetaQuery) ([]byte, error) {
	m := &wamp.Call{Request: wamp.ID(nonce), Procedure: q.Procedure,
		Options: wamp.Dict{"realm": string(q.Realm), "from": from, "caller": uint64(q.Caller)},
		Payload: wamp.Payload{Args: q.Args, Kwargs: q.Kwargs}}
	return codec.MsgPack.Encode([]byte{metaVersion}, m)
}

func decodeMetaQuery(data []byte) (from, nonce uint64, q *router.MetaQuery, err error) {
	if len(data) < 1 || data[0] != metaVersion {
		return 0, 0, nil, errors.New("not a meta query of this version")
	}
	m, err := codec.MsgPack.Decode(data[1:])
	if err != nil {
		return 0, 0, nil, err
	}
	call, ok := m.(*wamp.Call)
	if !ok {
		return 0, 0, nil, fmt.Errorf("a %s, not a CALL", m.Type())
	}
	realm, _ := call.Options["realm"].(string)
	from, _ = wamp.AsUint(call.Options["from"])
	caller, _ := wamp.AsUint(call.Options["caller"])
	args, kwargs, err := codec.DecodePayload(&call.Payload)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("arguments: %w", err)
	}
	return from, uint64(call.Request), &router.MetaQuery{Realm: wamp.URI(realm), Procedure: call.Procedure, Args: args, Kwargs: kwargs, Caller: wamp.ID(caller)}, nil
}

func encodeMetaAnswer(from, nonce uint64, a *router.MetaAnswer) ([]byte, error) {
	details := wamp.Dict{"node": from}
	var m wamp.Message = &wamp.Result{Request: wamp.ID(nonce), Details: details, Payload: wamp.Payload{Args: a.Args}}
	if a.Error != "" {
		m = &wamp.Error{RequestType: wamp.TypeCall, Request: wamp.ID(nonce), Details: details, Error: a.Error, Payload: wamp.Payload{Args: wamp.List{a.Message}}}
	}
	return codec.MsgPack.Encode([]byte{metaVersion}, m)
}

func decodeMetaAnswer(data []byte) (from uint64, a router.MetaAnswer, err error) {
	if len(data) < 1 || data[0] != metaVersion {
		return 0, a, errors.New("not a meta answer of this version")
	}
	m, err := codec.MsgPack.Decode(data[1:])
	if err != nil {
		return 0, a, err
	}
	var p *wamp.Payload
	var details wamp.Dict
	switch m := m.(type) {
	case *wamp.Result:
		p, details = &m.Payload, m.Details
	case *wamp.Error:
		p, details, a.Error = &m.Payload, m.Details, m.Error
	default:
		return 0, a, fmt.Errorf("a %s, not a RESULT or ERROR", m.Type())
	}
	from, _ = wamp.AsUint(details["node"])
	args, _, err := codec.DecodePayload(p)
	if err != nil {
		return 0, a, fmt.Errorf("result: %w", err)
	}
	if a.Error != "" {
		if len(args) > 0 {
			a.Message, _ = args[0].(string)
		}
	} else {
		a.Args = args
	}
	return from, a, nil
}

// Gather implements router.Backbone: it asks the other live nodes for
// their part of a meta procedure's answer and waits for them, at most
// QueryTimeout (or until ctx ends); with q.First, only until one answers
// without an error.
func (n *Node) Gather(ctx context.Context, q *router.MetaQuery) []router.MetaAnswer {
	expect := n.members.alive()
	if len(expect) == 0 {
		return nil
	}
	n.stats.MetaQueries.Add(1)
	nonce := rand.Uint64N(uint64(wamp.MaxID)) + 1 // it crosses as a WAMP request id
	data, err := encodeMetaQuery(n.id, nonce, q)
	if err != nil {
		n.stats.SendFailures.Add(1)
		n.log.Warn("cluster: a meta query cannot cross to other nodes", "procedure", q.Procedure, "err", err)
		return nil
	}
	inbox := n.subj.ansPrefix + n.idString() + "." + strconv.FormatUint(nonce, 16)
	ch := make(chan *nats.Msg, len(expect)+8)
	sub, err := n.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		n.log.Warn("cluster: cannot subscribe for the answers of a meta query", "err", err)
		return nil
	}
	defer sub.Unsubscribe()
	if err := n.nc.PublishRequest(n.subj.meta, inbox, data); err != nil {
		n.stats.SendFailures.Add(1)
		n.log.Warn("cluster: NATS refused a meta query", "procedure", q.Procedure, "err", err)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.QueryTimeout)
	defer cancel()
	var out []router.MetaAnswer
wait:
	for len(expect) > 0 {
		select {
		case m := <-ch:
			from, a, err := decodeMetaAnswer(m.Data)
			if err != nil {
				n.stats.BadMessages.Add(1)
				n.log.Warn("cluster: a meta answer from another node does not decode", "err", err)
				continue
			}
			if _, ok := expect[from]; ok {
				delete(expect, from)
				out = append(out, a)
				if q.First && a.Error == "" {
					return out // the node that has it answered: the others need not
				}
			}
		case <-ctx.Done():
			break wait
		}
	}
	if len(expect) > 0 {
		n.stats.MetaNodesMissing.Add(uint64(len(expect)))
		var names []string
		for _, name := range expect {
			names = append(names, name)
		}
		n.log.Warn("cluster: nodes did not answer a meta query in time; answered without their part",
			"procedure", q.Procedure, "realm", q.Realm, "missing", strings.Join(names, ","), "timeout", n.cfg.QueryTimeout)
	}
	return out
}

// onMeta answers another node's meta query with this node's part.
func (n *Node) onMeta(m *nats.Msg) {
	from, nonce, q, err := decodeMetaQuery(m.Data)
	if err != nil || m.Reply == "" {
		n.stats.BadMessages.Add(1)
		n.log.Warn("cluster: a meta query from another node does not decode", "err", err)
		return
	}
	if from == n.id || n.members.stranger(from) {
		return
	}
	a := router.MetaAnswer{Error: wamp.ErrNoSuchRealm, Message: "the node has no router yet"}
	if rt := n.rt.Load(); rt != nil {
		a = rt.AnswerMeta(q)
	}
	data, err := encodeMetaAnswer(n.id, nonce, &a)
	if err != nil {
		n.stats.SendFailures.Add(1)
		n.log.Warn("cluster: a meta answer cannot cross to the asking node", "procedure", q.Procedure, "err", err)
		return
	}
	n.send(m.Reply, data)
}

// alive returns the nodes this node takes for alive, by id, with their
// names.
func (ms *members) alive() map[uint64]string {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	out := make(map[uint64]string, len(ms.peers))
	for id, p := range ms.peers {
		out[id] = p.name
	}
	return out
}
