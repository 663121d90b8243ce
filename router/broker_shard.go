package router

import "github.com/junction-wamp/junction/wamp"

// Sharded subscriptions (pubsub_sharded_subscription.md, an alpha feature
// the specification describes only by its two options): a subscriber names
// its node with SUBSCRIBE.Options.nkey, a publisher names the resource an
// event is about with PUBLISH.Options.rkey. Junction gives the options this
// meaning:
//
//   - An event with an rkey goes, in each matching subscription, to the
//     subscribers of one node key only: the one rendezvous hashing picks
//     for the rkey among the node keys present (in a cluster, those of
//     every node: each node announces its node keys, and each delivers to
//     its own subscribers of the key picked among all). The same rkey keeps
//     reaching the same node while that node is subscribed, and when a
//     node comes or goes only the resources hashed to it move.
//   - Every subscriber of the chosen node key receives it (a node may be
//     served by several sessions); subscribers without an nkey receive
//     every event, sharded or not, as do all subscribers of an event
//     without an rkey.
//
// The specification names no error case; an nkey or rkey that is not a
// non-empty string is refused with wamp.error.invalid_argument.

// shard returns the node key that serves rkey: the one that scores highest
// among this node's and, in a cluster (bb), the other nodes' node keys of
// the subscription in realm, the smaller of equals. Called under sub.mu
// with sub.nkeys not empty.
func (sub *subscription) shard(rkey string, realm wamp.URI, bb Backbone) string {
	var best string
	var bestScore uint64
	first := true
	for _, nkey := range sub.nkeys {
		score := ShardScore(rkey, nkey)
		if first || score > bestScore || score == bestScore && nkey < best {
			best, bestScore, first = nkey, score, false
		}
	}
	if bb != nil {
		if nkey, score, ok := bb.Shard(realm, sub.match, sub.topic, rkey); ok && (score > bestScore || score == bestScore && nkey < best) {
			best = nkey
		}
	}
	return best
}

// ShardScore is the rendezvous hashing score of shard key nkey for resource
// key rkey, the one mechanism behind sharded subscriptions and sharded
// registrations: the key with the highest score serves rkey. It is the
// FNV-1a hash of rkey, a zero byte and nkey, with a final mix so that keys
// that differ in their last byte spread well. The nodes of a cluster rank
// the keys of every node with it, so it must never change between
// versions that may run in one cluster.
func ShardScore(rkey, nkey string) uint64 { return shardScore(rkey, nkey) }

// shardScore is ShardScore over a key in a string or in bytes (a callee's
// session id formatted on the stack).
func shardScore[K string | []byte](rkey string, nkey K) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(rkey); i++ {
		h = (h ^ uint64(rkey[i])) * prime
	}
	h *= prime // the separator, a zero byte
	for i := 0; i < len(nkey); i++ {
		h = (h ^ uint64(nkey[i])) * prime
	}
	// splitmix64's finalizer
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
