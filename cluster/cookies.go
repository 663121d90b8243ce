package cluster

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/junction-wamp/junction/auth"
)

// Cookie logins, cluster-wide. Every node keeps the whole table of cookie
// logins in its own auth.Cookies: a login or logout on one node is
// broadcast (N.cookie) and applied by every other, and a node that starts
// asks the first peer it meets for its table (N.cookiesync.<peer>,
// answered in chunks on N.cookiesnap.<node>). A lookup is then always
// local and never waits: the router looks cookies up inline, on the
// connection's event loop (auth.Policy.Choose calls Knows, the upgrade
// checks the value), where a request to other nodes could not be made.
// The cost: each login or logout with a cookie is one NATS broadcast of
// about 200 bytes, and each node holds every node's cookies (at most
// auth.Cookies.Max of them; the least recently remembered go first).
//
// What crosses NATS is the cookie's SHA-256, never the cookie. A node
// accepts a cookie value another node signed when its table has a login
// under it (websocket.CookieSigner.Also): that value was the other
// node's, and it already carries a login.
//
// Limits: a broadcast reaches the nodes this node has a NATS route to
// (routes do not relay), so a login or logout made while a node's routes
// are still forming may miss it (a missed logout leaves the cookie good
// there until it expires); a logout broadcast while a starting node is
// receiving its table may be undone there by the table's older entry; a
// table that is lost is not asked for again (the node then learns only
// new logins).

// cookieMsg is a login (ID set) or a logout remembered by a cookie.
type cookieMsg struct {
	Node    uint64          `json:"n,omitempty"` // the sender, in broadcasts
	Hash    auth.CookieHash `json:"h"`
	Realm   string          `json:"r"`
	ID      *auth.Identity  `json:"i,omitempty"`
	Expires int64           `json:"e,omitempty"` // Unix milliseconds
}

// cookieSnapChunk bounds one chunk of a cookie table.
const cookieSnapChunk = 256 << 10

// SetCookies makes the node share store's logins with the other nodes'.
// Call it once, before the router serves.
func (n *Node) SetCookies(store *auth.Cookies) {
	store.Replica = n
	n.cookies.Store(store)
	// The node may have met its peers already (Start does not wait, but
	// they can answer its first heartbeat at once).
	if ps := n.Peers(); len(ps) > 0 {
		if id, err := strconv.ParseUint(ps[0].ID, 16, 64); err == nil {
			n.askCookies(id)
		}
	}
}

// CookieRemembered implements auth.CookieReplica.
func (n *Node) CookieRemembered(h auth.CookieHash, realm string, id *auth.Identity, expires time.Time) {
	ident := *id
	ident.AuthExtra = nil
	b, _ := json.Marshal(&cookieMsg{Node: n.id, Hash: h, Realm: realm, ID: &ident, Expires: expires.UnixMilli()})
	n.send(n.subj.cookie, b)
}

// CookieForgotten implements auth.CookieReplica.
func (n *Node) CookieForgotten(h auth.CookieHash, realm string) {
	b, _ := json.Marshal(&cookieMsg{Node: n.id, Hash: h, Realm: realm})
	n.send(n.subj.cookie, b)
}

// onCookie applies another node's login or logout.
func (n *Node) onCookie(m *nats.Msg) {
	var c cookieMsg
	if err := json.Unmarshal(m.Data, &c); err != nil {
		n.stats.BadMessages.Add(1)
		return
	}
	if c.Node != n.id && !n.members.stranger(c.Node) {
		n.applyCookie(&c)
	}
}

func (n *Node) applyCookie(c *cookieMsg) {
	store := n.cookies.Load()
	if store == nil {
		return
	}
	if c.ID == nil {
		store.ForgetHash(c.Hash, c.Realm)
		return
	}
	store.RememberHash(c.Hash, c.Realm, c.ID, time.UnixMilli(c.Expires))
}

// askCookies asks peer for its cookie table, once in the node's life: the
// first peer met has the cluster's table (every node has all of it).
func (n *Node) askCookies(peer uint64) {
	if n.cookies.Load() == nil || n.cookiesAsked.Swap(true) {
		return
	}
	n.out.request(n.subj.cookieSyncPrefix+strconv.FormatUint(peer, 16), n.subj.cookieSnapPrefix+n.idString(), nil)
}

// onCookieSync sends this node's cookie table to the node that asked, in
// chunks.
func (n *Node) onCookieSync(m *nats.Msg) {
	store := n.cookies.Load()
	if store == nil || m.Reply == "" {
		return
	}
	// The reply subject names the node that asks.
	if id, err := strconv.ParseUint(strings.TrimPrefix(m.Reply, n.subj.cookieSnapPrefix), 16, 64); err == nil && n.members.stranger(id) {
		return
	}
	var all []cookieMsg
	store.Each(func(h auth.CookieHash, realm string, id *auth.Identity, expires time.Time) {
		ident := *id
		all = append(all, cookieMsg{Hash: h, Realm: realm, ID: &ident, Expires: expires.UnixMilli()})
	})
	limit := min(cookieSnapChunk, int(n.maxPayload.Load()/2))
	for len(all) > 0 {
		size, i := 0, 0
		for i < len(all) && (size < limit || i == 0) {
			size += 200 + len(all[i].Realm) + len(all[i].ID.AuthID) + len(all[i].ID.AuthRole)
			i++
		}
		b, _ := json.Marshal(all[:i])
		all = all[i:]
		if !n.send(m.Reply, b) {
			return
		}
	}
}

// onCookieSnap applies a chunk of the table this node asked for.
func (n *Node) onCookieSnap(m *nats.Msg) {
	var chunk []cookieMsg
	if err := json.Unmarshal(m.Data, &chunk); err != nil {
		n.stats.BadMessages.Add(1)
		return
	}
	for i := range chunk {
		if chunk[i].ID != nil {
			n.applyCookie(&chunk[i])
		}
	}
}
