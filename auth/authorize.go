package auth

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// Action is what a session asks to do with a URI.
type Action uint8

// Actions.
const (
	ActionCall Action = iota
	ActionRegister
	ActionPublish
	ActionSubscribe
	numActions
)

var actionNames = [numActions]string{"call", "register", "publish", "subscribe"}

func (a Action) String() string {
	if a < numActions {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// ParseAction reads an action name.
func ParseAction(s string) (Action, bool) {
	for i, n := range actionNames {
		if n == s {
			return Action(i), true
		}
	}
	return 0, false
}

// Allow is a set of actions.
type Allow uint8

// AllowAll allows every action.
const AllowAll Allow = 1<<numActions - 1

// With returns the set with a added.
func (s Allow) With(a Action) Allow { return s | 1<<a }

// Has reports whether a is in the set.
func (s Allow) Has(a Action) bool { return s&(1<<a) != 0 }

// Permission allows (or, with an empty Allow, denies) actions on the URIs
// a pattern matches.
type Permission struct {
	// URI is the pattern: a URI for exact, a URI (optionally ending in
	// ".") for prefix, a URI with empty components for wildcard; or "*",
	// every URI, less specific than any other rule. {authid} and
	// {authrole} are replaced by the session's.
	URI   string
	Match wamp.Match
	Allow Allow
}

// AnyURI is the Permission.URI that matches every URI.
const AnyURI = "*"

// Disclose says whether a role's calls or publications disclose who made
// them to callees or subscribers.
type Disclose uint8

const (
	// DiscloseDefault takes the realm's setting.
	DiscloseDefault Disclose = iota
	// DiscloseOnRequest discloses when the caller or publisher asks
	// (disclose_me).
	DiscloseOnRequest
	// DiscloseAlways discloses every call or publication.
	DiscloseAlways
	// DiscloseNever refuses disclose_me.
	DiscloseNever
)

// ParseDisclose reads "on_request", "always" or "never".
func ParseDisclose(s string) (Disclose, bool) {
	switch s {
	case "on_request":
		return DiscloseOnRequest, true
	case "always":
		return DiscloseAlways, true
	case "never":
		return DiscloseNever, true
	}
	return DiscloseDefault, false
}

// Role is what the sessions authenticated with one authrole may do.
type Role struct {
	Name string
	// Permissions are the role's rules; the most specific rule matching
	// a URI decides (exact, then the longest prefix, then the wildcard
	// with the longest concrete components first, then "*"). A URI no
	// rule matches is denied.
	Permissions []Permission
	// Authorizer, when set, decides instead of Permissions.
	Authorizer *DynamicAuthorizer
	// DiscloseCaller and DisclosePublisher override the realm's
	// disclosure settings for this role's sessions.
	DiscloseCaller    Disclose
	DisclosePublisher Disclose

	static      *rules // compiled Permissions when none has a placeholder
	placeholder bool
}

// Roles are the roles of a realm. Build them with NewRoles; they are
// read-only afterwards and safe for concurrent use.
type Roles struct {
	byName map[string]*Role
}

// NewRoles checks and compiles roles. A pattern that is not valid for its
// match policy (after putting "x" for the placeholders) is an error.
func NewRoles(roles []*Role) (*Roles, error) {
	rs := &Roles{byName: make(map[string]*Role, len(roles))}
	for _, r := range roles {
		for i, p := range r.Permissions {
			if strings.Contains(p.URI, "{authid}") || strings.Contains(p.URI, "{authrole}") {
				r.placeholder = true
			}
			if err := checkPattern(p); err != nil {
				return nil, fmt.Errorf("role %s: permission %d: %w", r.Name, i, err)
			}
		}
		if !r.placeholder {
			r.static = compile(r.Permissions, "", "")
		}
		rs.byName[r.Name] = r
	}
	return rs, nil
}

// checkPattern checks a permission's pattern.
func checkPattern(p Permission) error {
	if p.URI == AnyURI {
		return nil
	}
	u := strings.NewReplacer("{authid}", "x", "{authrole}", "x").Replace(p.URI)
	if !wamp.ValidPattern(p.Match, wamp.URI(u), false) || strings.ContainsAny(u, "{}") {
		return fmt.Errorf("%q is not a valid %s pattern", p.URI, p.Match)
	}
	return nil
}

// Get returns the role named name, or nil.
func (rs *Roles) Get(name string) *Role {
	if rs == nil {
		return nil
	}
	return rs.byName[name]
}

// Decision is an authorizer's answer.
type Decision struct {
	Allowed bool
	// Reason says why it was denied, for the router's log.
	Reason string
}

// SessionAuthorizer decides what one session may do. It is used by one
// goroutine at a time (the session's).
type SessionAuthorizer interface {
	// Authorize decides whether the session may do action on uri (a
	// pattern when match is not exact), with the message's options. It
	// answers at once (pending false) or, when it must ask someone,
	// returns pending true and later calls done exactly once, on another
	// goroutine.
	Authorize(action Action, uri wamp.URI, match wamp.Match, options wamp.Dict, done func(Decision)) (d Decision, pending bool)
}

// ForSession returns the authorizer of a session with sub's identity: its
// role's rules with the placeholders filled in, or the role's dynamic
// authorizer calling through c. A role that is not defined may do
// nothing.
func (rs *Roles) ForSession(sub *Subject, c Caller) SessionAuthorizer {
	r := rs.Get(sub.AuthRole)
	switch {
	case r == nil:
		return denyAll{fmt.Sprintf("role %q is not defined in realm %s", sub.AuthRole, sub.Realm)}
	case r.Authorizer != nil:
		return &dynamicSession{a: r.Authorizer, sub: sub, caller: c}
	case r.static != nil:
		return r.static
	}
	return compile(r.Permissions, sub.AuthID, sub.AuthRole)
}

type denyAll struct{ reason string }

func (d denyAll) Authorize(Action, wamp.URI, wamp.Match, wamp.Dict, func(Decision)) (Decision, bool) {
	return Decision{Reason: d.reason}, false
}

// rules are compiled permissions.
type rules struct {
	idx    wamp.PatternIndex[Allow]
	any    Allow
	hasAny bool
}

// compile builds the rules of perms for a session with authid and
// authrole. A rule whose placeholder cannot be filled in safely (the value
// is empty, or would add or break URI components) is left out: it then
// allows nothing, rather than more than meant.
func compile(perms []Permission, authid, authrole string) *rules {
	r := &rules{}
	rep := strings.NewReplacer("{authid}", authid, "{authrole}", authrole)
	for _, p := range perms {
		if p.URI == AnyURI {
			r.any, r.hasAny = p.Allow, true
			continue
		}
		u := p.URI
		if strings.ContainsRune(u, '{') {
			if !safeComponent(authid) && strings.Contains(u, "{authid}") ||
				!safeComponent(authrole) && strings.Contains(u, "{authrole}") {
				continue
			}
			u = rep.Replace(u)
			if !wamp.ValidPattern(p.Match, wamp.URI(u), false) {
				continue
			}
		}
		r.idx.Put(p.Match, wamp.URI(u), p.Allow)
	}
	return r
}

// safeComponent reports whether s can stand for one URI component.
func safeComponent(s string) bool {
	return s != "" && !strings.ContainsAny(s, ". \t\r\n\v\f#{}")
}

// Authorize decides from the rules alone.
func (r *rules) Authorize(a Action, uri wamp.URI, m wamp.Match, _ wamp.Dict, _ func(Decision)) (Decision, bool) {
	if r.allowed(a, uri, m) {
		return Decision{Allowed: true}, false
	}
	return Decision{Reason: "no permission"}, false
}

func (r *rules) allowed(a Action, uri wamp.URI, m wamp.Match) bool {
	bm, bp, allow, ok := r.idx.Best(uri)
	if m == wamp.MatchExact {
		if ok {
			return allow.Has(a)
		}
		return r.hasAny && r.any.Has(a)
	}
	// A pattern (subscription or registration) stands for every URI it
	// matches: it is allowed when one rule allows them all and no more
	// specific rule denies one of them.
	byAny := !ok // the covering rule is "*", not a prefix rule
	if ok {
		if bm != wamp.MatchPrefix || !covers(bp, uri, m) || !allow.Has(a) {
			return false
		}
	} else if !r.hasAny || !r.any.Has(a) {
		return false
	}
	denied := false
	r.idx.Each(func(qm wamp.Match, q wamp.URI, qa Allow) bool {
		if qa.Has(a) {
			return true
		}
		if !byAny && (qm == wamp.MatchWildcard || qm == wamp.MatchPrefix && covers(q, bp, wamp.MatchPrefix)) {
			return true // less specific than the covering prefix rule
		}
		if overlaps(qm, q, uri, m) {
			denied = true
			return false
		}
		return true
	})
	return !denied
}

// lead is the part of a pattern before its first empty component (the
// whole pattern for a prefix), ending in "." when cut.
func lead(p wamp.URI, m wamp.Match) wamp.URI {
	if m != wamp.MatchWildcard {
		return p
	}
	if strings.HasPrefix(string(p), ".") {
		return ""
	}
	if i := strings.Index(string(p), ".."); i >= 0 {
		return p[:i+1]
	}
	if strings.HasSuffix(string(p), ".") {
		return p
	}
	return p // no empty component: a single URI
}

// covers reports whether prefix rule q matches every URI of pattern p
// (policy m).
func covers(q, p wamp.URI, m wamp.Match) bool {
	l := lead(p, m)
	if l == "" {
		return false
	}
	if strings.HasSuffix(string(l), ".") && !strings.HasSuffix(string(q), ".") {
		return wamp.MatchPrefix.Matches(q, l[:len(l)-1]) || wamp.MatchPrefix.Matches(q, l)
	}
	return wamp.MatchPrefix.Matches(q, l)
}

// overlaps reports whether rule (qm, q) may match a URI that pattern
// (m, p) matches; it errs towards true.
func overlaps(qm wamp.Match, q wamp.URI, p wamp.URI, m wamp.Match) bool {
	switch qm {
	case wamp.MatchExact:
		return m.Matches(p, q)
	case wamp.MatchPrefix:
		l := lead(p, m)
		return strings.HasPrefix(string(q), string(l)) || strings.HasPrefix(string(l), string(q))
	}
	return true
}

// DynamicAuthorizer asks a WAMP procedure, registered by a trusted
// component, what a role's sessions may do:
//
//	procedure(session, uri, action, options)
//
// where session is the session's details (see Subject.Dict), action one
// of call, register, publish, subscribe, and options the message's
// options (match tells a pattern). It answers true or false, or a dict
// with allow (bool). An ERROR answer, no answer within Timeout, or no
// callee denies. Answers are cached per (authid, authrole, action, uri,
// match) for CacheTTL, in at most CacheEntries entries.
type DynamicAuthorizer struct {
	Realm        string // where the procedure is registered; "" means the session's realm
	Procedure    string
	Timeout      time.Duration // 0 means DefaultCallTimeout
	CacheTTL     time.Duration // 0: no caching
	CacheEntries int           // 0 means 10000

	now func() time.Time // for tests

	mu    sync.Mutex
	cache map[cacheKey]cached
}

type cacheKey struct {
	// realm: the realms a realm template makes share their roles, and
	// so one DynamicAuthorizer, whose answers are each realm's own.
	realm            string
	authid, authrole string
	action           Action
	match            wamp.Match
	uri              wamp.URI
}

type cached struct {
	allowed bool
	expires time.Time
}

func (a *DynamicAuthorizer) clock() time.Time {
	if a.now != nil {
		return a.now()
	}
	return time.Now()
}

func (a *DynamicAuthorizer) lookup(k cacheKey) (bool, bool) {
	if a.CacheTTL <= 0 {
		return false, false
	}
	now := a.clock()
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.cache[k]
	if !ok || !now.Before(c.expires) {
		return false, false
	}
	return c.allowed, true
}

func (a *DynamicAuthorizer) store(k cacheKey, allowed bool) {
	if a.CacheTTL <= 0 {
		return
	}
	now := a.clock()
	limit := a.CacheEntries
	if limit <= 0 {
		limit = 10000
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cache == nil {
		a.cache = make(map[cacheKey]cached)
	}
	if len(a.cache) >= limit {
		for k, c := range a.cache {
			if !now.Before(c.expires) {
				delete(a.cache, k)
			}
		}
		for k := range a.cache {
			if len(a.cache) < limit {
				break
			}
			delete(a.cache, k)
		}
	}
	a.cache[k] = cached{allowed, now.Add(a.CacheTTL)}
}

// dynamicSession is a DynamicAuthorizer bound to one session.
type dynamicSession struct {
	a      *DynamicAuthorizer
	sub    *Subject
	caller Caller
}

func (s *dynamicSession) Authorize(action Action, uri wamp.URI, m wamp.Match, options wamp.Dict, done func(Decision)) (Decision, bool) {
	k := cacheKey{s.sub.Realm, s.sub.AuthID, s.sub.AuthRole, action, m, uri}
	if allowed, ok := s.a.lookup(k); ok {
		return Decision{Allowed: allowed, Reason: "denied by the dynamic authorizer (cached)"}, false
	}
	if s.caller == nil {
		return Decision{Reason: "no caller for the dynamic authorizer"}, false
	}
	ref := procedureRef{s.a.Realm, s.a.Procedure, s.a.Timeout}
	if options == nil {
		options = wamp.Dict{}
	}
	args := wamp.List{s.sub.Dict(), string(uri), action.String(), options}
	s.caller.Call(ref.realm(s.sub.Realm), s.a.Procedure, args, nil, ref.timeout(), func(res CallResult) {
		d := decisionFrom(res)
		if res.Err == nil {
			s.a.store(k, d.Allowed)
		}
		if !d.Allowed && d.Reason == "" {
			d.Reason = "denied by the dynamic authorizer " + s.a.Procedure
		}
		done(d)
	})
	return Decision{}, true
}

// decisionFrom reads a dynamic authorizer's answer.
func decisionFrom(res CallResult) Decision {
	if res.Err != nil {
		return Decision{Reason: fmt.Sprintf("dynamic authorizer: %v", res.Err)}
	}
	if len(res.Args) == 0 {
		return Decision{Reason: "dynamic authorizer answered nothing"}
	}
	switch v := res.Args[0].(type) {
	case bool:
		return Decision{Allowed: v}
	case map[string]any:
		if b, ok := v["allow"].(bool); ok {
			return Decision{Allowed: b}
		}
	}
	return Decision{Reason: fmt.Sprintf("dynamic authorizer answered %T, not a bool or {allow: bool}", res.Args[0])}
}
