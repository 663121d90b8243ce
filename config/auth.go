package config

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/internal/secfile"
	"github.com/junction-wamp/junction/wamp"
)

// The keys of the authentication and authorization sections.
var (
	realmAuthKeys  = []string{"anonymous_role", "cookie", "principals", "dynamic", "roles", "throttle"}
	throttleKeys   = []string{"free", "max_delay"}
	principalKeys  = []string{"authid", "role", "ticket", "wampcra", "scram", "cryptosign", "tls"}
	wampcraKeys    = []string{"secret", "key", "salt", "iterations", "keylen"}
	scramKeys      = []string{"kdf", "iterations", "memory", "salt", "stored_key", "server_key"}
	dynamicKeys    = []string{"procedure", "realm", "methods", "timeout"}
	roleKeys       = []string{"name", "permissions", "authorizer", "disclose_caller", "disclose_publisher"}
	permissionKeys = []string{"uri", "match", "allow"}
	authorizerKeys = []string{"procedure", "realm", "timeout", "cache"}
	cookieKeys     = []string{"name", "max_age"}
)

// RealmAuth is how a realm authenticates clients and authorizes what
// their sessions do. Yaml key auth of a realm.
type RealmAuth struct {
	// AnonymousRole is the authrole of anonymous clients (when the realm
	// has anonymous: true). Yaml key anonymous_role; default "anonymous".
	AnonymousRole string
	// Cookie accepts cookie authentication: a WebSocket client whose
	// cookie (see Listener.Cookie) authenticated to this realm before gets
	// the same identity without credentials. Yaml key cookie; default
	// false.
	Cookie bool
	// Principals are the static principals. Yaml key principals.
	Principals []Principal
	// Dynamic names the procedure of a dynamic authenticator, nil for
	// none. Yaml key dynamic.
	Dynamic *DynamicAuth
	// Roles give the sessions of each authrole their permissions. Without
	// roles every session may do everything; with them, a session whose
	// role is not listed may do nothing. Yaml key roles.
	Roles []Role
	// Throttle slows down repeated failures from one address. Yaml key
	// throttle.
	Throttle Throttle
}

// Throttle slows down repeated authentication failures from one address
// (see auth.Throttle).
type Throttle struct {
	// Free is the number of failures within 10 minutes answered without
	// delay. Yaml key free; default 3.
	Free int
	// MaxDelay is the longest delay (the first is 250ms, doubling with
	// each further failure); 0 turns the throttle off. Yaml key
	// max_delay; default 5s.
	MaxDelay time.Duration
}

// Principal is one static principal. It has at least one credential.
type Principal struct {
	AuthID string // yaml authid, required, unique in the realm
	Role   string // yaml role, required
	// Ticket is the hash of its ticket (a PHC string from `junction
	// passwd --method ticket`). Yaml key ticket.
	Ticket *auth.PasswordHash
	// WAMPCRA is its WAMP-CRA key. Yaml key wampcra: {secret} for an
	// unsalted secret, or {key, salt, iterations, keylen} for a salted
	// one (from `junction passwd --method wampcra`).
	WAMPCRA *auth.CRAKey
	// SCRAM are its WAMP-SCRAM credentials, one per KDF (from `junction
	// passwd --method scram`). Yaml key scram, a list.
	SCRAM []*auth.SCRAMCredential
	// Cryptosign are its Ed25519 public keys, hex. Yaml key cryptosign, a
	// list.
	Cryptosign []ed25519.PublicKey
	// TLS are SHA-256 fingerprints (hex) of its TLS client certificates.
	// Yaml key tls, a list.
	TLS []string
}

// DynamicAuth names a dynamic authenticator (see auth.Dynamic).
type DynamicAuth struct {
	Procedure string        // yaml procedure, required
	Realm     string        // yaml realm: where it is registered; default the realm itself
	Methods   []string      // yaml methods: ticket, wampcra, wamp-scram, cryptosign; required
	Timeout   time.Duration // yaml timeout; default 5s
}

// Role is one role's permissions.
type Role struct {
	Name        string       // yaml name, required, unique in the realm
	Permissions []Permission // yaml permissions
	// Authorizer, when set, decides instead of Permissions. Yaml key
	// authorizer.
	Authorizer *Authorizer
	// DiscloseCaller and DisclosePublisher override the realm's
	// disclosure for this role: "on_request", "always" or "never"; ""
	// keeps the realm's. Yaml keys disclose_caller, disclose_publisher.
	DiscloseCaller    string
	DisclosePublisher string
}

// Permission allows actions on the URIs of a pattern.
type Permission struct {
	URI   string   // yaml uri, required: a pattern, or "*"; may contain {authid} and {authrole}
	Match string   // yaml match: exact, prefix or wildcard; default exact
	Allow []string // yaml allow: call, register, publish, subscribe; empty denies
}

// Authorizer names a dynamic authorizer (see auth.DynamicAuthorizer).
type Authorizer struct {
	Procedure string        // yaml procedure, required
	Realm     string        // yaml realm; default the realm itself
	Timeout   time.Duration // yaml timeout; default 5s
	Cache     time.Duration // yaml cache: how long answers are kept; default 0 (not cached)
}

// Cookie is a listener's WebSocket authentication cookie.
type Cookie struct {
	Name   string        // yaml name; default "junction_auth"
	MaxAge time.Duration // yaml max_age; default 24h; 0 keeps it for the browser session
}

func (d *decoder) realmAuth(n *yaml.Node, path string) *RealmAuth {
	a := &RealmAuth{AnonymousRole: "anonymous", Throttle: Throttle{Free: 3, MaxDelay: 5 * time.Second}}
	d.mapping(n, path, realmAuthKeys, func(key, path string, v *yaml.Node) {
		switch key {
		case "anonymous_role":
			d.str(v, path, &a.AnonymousRole)
		case "cookie":
			d.boolean(v, path, &a.Cookie)
		case "principals":
			items, _ := d.sequence(v, path)
			for i, item := range items {
				ip := fmt.Sprintf("%s[%d]", path, i)
				d.r.setPos(ip, item)
				a.Principals = append(a.Principals, d.principal(item, ip))
			}
		case "dynamic":
			if isNull(resolve(v)) {
				a.Dynamic = nil
				return
			}
			a.Dynamic = &DynamicAuth{Timeout: auth.DefaultCallTimeout}
			d.mapping(v, path, dynamicKeys, func(key, path string, v *yaml.Node) {
				switch key {
				case "procedure":
					d.str(v, path, &a.Dynamic.Procedure)
				case "realm":
					d.str(v, path, &a.Dynamic.Realm)
				case "methods":
					a.Dynamic.Methods = d.strings(v, path)
				case "timeout":
					d.duration(v, path, &a.Dynamic.Timeout)
				}
			})
		case "roles":
			items, _ := d.sequence(v, path)
			for i, item := range items {
				ip := fmt.Sprintf("%s[%d]", path, i)
				d.r.setPos(ip, item)
				a.Roles = append(a.Roles, d.role(item, ip))
			}
		case "throttle":
			d.mapping(v, path, throttleKeys, func(key, path string, v *yaml.Node) {
				switch key {
				case "free":
					d.positive(v, path, &a.Throttle.Free)
				case "max_delay":
					d.duration(v, path, &a.Throttle.MaxDelay)
				}
			})
		}
	})
	return a
}

// strings decodes a list of strings.
func (d *decoder) strings(n *yaml.Node, path string) []string {
	items, ok := d.sequence(n, path)
	if !ok {
		return nil // none, or not a list (reported)
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		d.r.setPos(ip, item)
		var s string
		d.str(item, ip, &s)
		out = append(out, s)
	}
	return out
}

// positive decodes a positive integer.
func (d *decoder) positive(n *yaml.Node, path string, dst *int) {
	var v int
	if !d.integer(n, path, &v) {
		return
	}
	if v <= 0 {
		d.r.bad(n, path, "%d is not a positive integer", v)
		return
	}
	*dst = v
}

// b64 decodes a base64 value.
func (d *decoder) b64(n *yaml.Node, path string, dst *[]byte) {
	s, ok := d.scalar(n, path)
	if !ok {
		return
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		d.r.bad(n, path, "is not base64 (as `junction passwd` prints it)")
		return
	}
	*dst = b
}

func (d *decoder) principal(n *yaml.Node, path string) Principal {
	var p Principal
	d.mapping(n, path, principalKeys, func(key, path string, v *yaml.Node) {
		switch key {
		case "authid":
			d.str(v, path, &p.AuthID)
		case "role":
			d.str(v, path, &p.Role)
		case "ticket":
			s, ok := d.scalar(v, path)
			if !ok {
				return
			}
			h, err := auth.ParsePasswordHash(s)
			if err != nil {
				d.r.bad(v, path, "%v; a ticket is stored hashed: `junction passwd --method ticket` prints the hash", err)
				return
			}
			p.Ticket = h
		case "wampcra":
			p.WAMPCRA = d.wampcra(v, path)
		case "scram":
			items, _ := d.sequence(v, path)
			for i, item := range items {
				ip := fmt.Sprintf("%s[%d]", path, i)
				d.r.setPos(ip, item)
				p.SCRAM = append(p.SCRAM, d.scram(item, ip))
			}
		case "cryptosign":
			for i, s := range d.strings(v, path) {
				ip := fmt.Sprintf("%s[%d]", path, i)
				k, err := hex.DecodeString(s)
				if err != nil || len(k) != ed25519.PublicKeySize {
					d.r.errorf(ip, "%q is not an Ed25519 public key: 64 hex digits (`junction keygen` makes a pair)", s)
					continue
				}
				p.Cryptosign = append(p.Cryptosign, k)
			}
		case "tls":
			for i, s := range d.strings(v, path) {
				ip := fmt.Sprintf("%s[%d]", path, i)
				s = strings.ToLower(strings.ReplaceAll(s, ":", ""))
				if b, err := hex.DecodeString(s); err != nil || len(b) != 32 {
					d.r.errorf(ip, "is not a SHA-256 certificate fingerprint: 64 hex digits (openssl x509 -noout -fingerprint -sha256)")
					continue
				}
				p.TLS = append(p.TLS, s)
			}
		}
	})
	return p
}

func (d *decoder) wampcra(n *yaml.Node, path string) *auth.CRAKey {
	k := &auth.CRAKey{}
	var secret, key string
	var hasSecret, hasKey bool
	d.mapping(n, path, wampcraKeys, func(name, path string, v *yaml.Node) {
		switch name {
		case "secret":
			hasSecret = true
			d.str(v, path, &secret)
		case "key":
			hasKey = true
			d.str(v, path, &key)
		case "salt":
			d.str(v, path, &k.Salt)
		case "iterations":
			d.positive(v, path, &k.Iterations)
		case "keylen":
			d.positive(v, path, &k.KeyLen)
		}
	})
	switch {
	case hasSecret && (hasKey || k.Salt != "" || k.Iterations != 0 || k.KeyLen != 0):
		d.r.errorf(path, "give either secret (unsalted) or key, salt, iterations and keylen (salted), not both")
	case hasSecret:
		if secret == "" {
			d.r.errorf(path+".secret", "must not be empty")
		}
		k.Key = []byte(secret)
	case hasKey && k.Salt != "" && k.Iterations > 0 && k.KeyLen > 0:
		if _, err := base64.StdEncoding.DecodeString(key); err != nil || key == "" {
			d.r.errorf(path+".key", "is not the base64 derived key `junction passwd --method wampcra` prints")
		}
		k.Key = []byte(key)
	default:
		d.r.errorf(path, "give secret (unsalted) or key, salt, iterations and keylen (salted, from `junction passwd --method wampcra`)")
	}
	return k
}

func (d *decoder) scram(n *yaml.Node, path string) *auth.SCRAMCredential {
	c := &auth.SCRAMCredential{}
	d.mapping(n, path, scramKeys, func(key, path string, v *yaml.Node) {
		switch key {
		case "kdf":
			d.str(v, path, &c.KDF)
		case "iterations":
			d.positive(v, path, &c.Iterations)
		case "memory":
			d.positive(v, path, &c.Memory)
		case "salt":
			d.b64(v, path, &c.Salt)
		case "stored_key":
			d.b64(v, path, &c.StoredKey)
		case "server_key":
			d.b64(v, path, &c.ServerKey)
		}
	})
	return c
}

func (d *decoder) role(n *yaml.Node, path string) Role {
	var r Role
	d.mapping(n, path, roleKeys, func(key, path string, v *yaml.Node) {
		switch key {
		case "name":
			d.str(v, path, &r.Name)
		case "permissions":
			items, _ := d.sequence(v, path)
			for i, item := range items {
				ip := fmt.Sprintf("%s[%d]", path, i)
				d.r.setPos(ip, item)
				p := Permission{Match: "exact"}
				d.mapping(item, ip, permissionKeys, func(key, path string, v *yaml.Node) {
					switch key {
					case "uri":
						d.str(v, path, &p.URI)
					case "match":
						d.str(v, path, &p.Match)
					case "allow":
						p.Allow = d.strings(v, path)
					}
				})
				r.Permissions = append(r.Permissions, p)
			}
		case "authorizer":
			if isNull(resolve(v)) {
				r.Authorizer = nil
				return
			}
			r.Authorizer = &Authorizer{Timeout: auth.DefaultCallTimeout}
			d.mapping(v, path, authorizerKeys, func(key, path string, v *yaml.Node) {
				switch key {
				case "procedure":
					d.str(v, path, &r.Authorizer.Procedure)
				case "realm":
					d.str(v, path, &r.Authorizer.Realm)
				case "timeout":
					d.duration(v, path, &r.Authorizer.Timeout)
				case "cache":
					d.duration(v, path, &r.Authorizer.Cache)
				}
			})
		case "disclose_caller":
			d.str(v, path, &r.DiscloseCaller)
		case "disclose_publisher":
			d.str(v, path, &r.DisclosePublisher)
		}
	})
	return r
}

func (d *decoder) cookie(n *yaml.Node, path string) *Cookie {
	c := &Cookie{Name: "junction_auth", MaxAge: 24 * time.Hour}
	d.mapping(n, path, cookieKeys, func(key, path string, v *yaml.Node) {
		switch key {
		case "name":
			d.str(v, path, &c.Name)
		case "max_age":
			d.duration(v, path, &c.MaxAge)
		}
	})
	return c
}

// realmTemplate decodes realm_template with the decoder of realms[], so
// that it takes every realm key there is, and moves what was recorded
// under realm_template[0] to realm_template.
func (d *decoder) realmTemplate(n *yaml.Node, path string, c *Config) {
	if isNull(resolve(n)) {
		return // as if left out
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{n}, Line: n.Line, Column: n.Column}
	var tmp Config
	first := len(d.r.problems)
	d.realms(seq, path, &tmp)
	d.r.rename(path+"[0]", path, first)
	if len(tmp.Realms) == 1 {
		rl := tmp.Realms[0]
		c.RealmTemplate = &rl
	}
}

// rename moves the positions, failures and problems recorded under key
// path from to path to (problems from index first on).
func (r *report) rename(from, to string, first int) {
	move := func(p string) (string, bool) {
		if p == from || strings.HasPrefix(p, from+".") || strings.HasPrefix(p, from+"[") {
			return to + p[len(from):], true
		}
		return p, false
	}
	for p, pos := range r.pos {
		if np, ok := move(p); ok {
			delete(r.pos, p)
			r.pos[np] = pos
		}
	}
	for p := range r.failed {
		if np, ok := move(p); ok {
			delete(r.failed, p)
			r.failed[np] = true
		}
	}
	for _, pr := range r.problems[first:] {
		pr.path, _ = move(pr.path)
		pr.msg = strings.ReplaceAll(pr.msg, "in "+from, "in "+to)
	}
}

// validateAuth checks a realm's auth section; path is the realm's key
// path.
func validateAuth(r *report, c *Config, path string, rl *Realm) {
	a := rl.Auth
	ap := path + ".auth"
	if a == nil {
		return
	}
	if (len(a.Principals) > 0 || a.Dynamic != nil || a.Cookie) && !r.has(path+".anonymous") && r.pos != nil {
		r.errorAt(ap, path+".anonymous", "say whether anonymous clients may join too (anonymous: true or false): the realm has authentication")
	}
	roles := map[string]bool{}
	for i, ro := range a.Roles {
		rp := fmt.Sprintf("%s.roles[%d]", ap, i)
		if ro.Name == "" {
			r.errorAt(rp, rp+".name", "a role needs a name")
		} else if roles[ro.Name] {
			r.errorf(rp+".name", "role %q is already defined", ro.Name)
		}
		roles[ro.Name] = true
		if ro.Authorizer != nil && len(ro.Permissions) > 0 {
			r.errorAt(rp+".authorizer", rp, "give permissions or an authorizer, not both")
		}
		if az := ro.Authorizer; az != nil {
			checkProcedure(r, c, rp+".authorizer", az.Procedure, az.Realm)
			if az.Timeout <= 0 {
				r.errorf(rp+".authorizer.timeout", "must be more than 0")
			}
			if az.Cache < 0 {
				r.errorf(rp+".authorizer.cache", "must not be negative")
			}
		}
		for _, k := range []string{"disclose_caller", "disclose_publisher"} {
			v := ro.DiscloseCaller
			if k == "disclose_publisher" {
				v = ro.DisclosePublisher
			}
			if v != "" {
				oneOf(r, rp+"."+k, v, "on_request", "always", "never")
			}
		}
		for j, p := range ro.Permissions {
			pp := fmt.Sprintf("%s.permissions[%d]", rp, j)
			m, ok := wamp.ParseMatch(p.Match)
			if !ok || p.Match == "" {
				oneOf(r, pp+".match", p.Match, "exact", "prefix", "wildcard")
				continue
			}
			if p.URI == "" {
				r.errorAt(pp, pp+".uri", "a permission needs a uri (a pattern, or \"*\" for every URI)")
				continue
			}
			if _, err := auth.NewRoles([]*auth.Role{{Name: "x", Permissions: []auth.Permission{{URI: p.URI, Match: m}}}}); err != nil {
				r.errorf(pp+".uri", "%q is not a valid %s pattern (placeholders {authid} and {authrole} stand for whole components)", p.URI, m)
			}
			for k, act := range p.Allow {
				if _, ok := auth.ParseAction(act); !ok {
					r.errorf(fmt.Sprintf("%s.allow[%d]", pp, k), "%q is not one of call, register, publish, subscribe", act)
				}
			}
		}
	}

	ids, keys, certs := map[string]string{}, map[string]string{}, map[string]string{}
	for i, p := range a.Principals {
		pp := fmt.Sprintf("%s.principals[%d]", ap, i)
		switch {
		case p.AuthID == "":
			r.errorAt(pp, pp+".authid", "a principal needs an authid")
		case ids[p.AuthID] != "":
			r.errorf(pp+".authid", "%q is already defined %s", p.AuthID, r.ref(ids[p.AuthID]))
		default:
			ids[p.AuthID] = pp + ".authid"
		}
		switch {
		case p.Role == "":
			r.errorAt(pp, pp+".role", "a principal needs a role")
		case len(a.Roles) > 0 && !roles[p.Role]:
			r.errorf(pp+".role", "role %q is not defined in auth.roles", p.Role)
		}
		reported := false // a credential that was given but did not decode is reported by itself
		for _, k := range []string{"ticket", "wampcra", "scram", "cryptosign", "tls"} {
			reported = reported || r.failedWithin(pp+"."+k)
		}
		// An empty list (cryptosign: []) is no credential either.
		if p.Ticket == nil && p.WAMPCRA == nil && len(p.SCRAM) == 0 && len(p.Cryptosign) == 0 && len(p.TLS) == 0 && !reported && !r.skip(pp) {
			r.errorAt(pp, pp, "a principal needs a credential: ticket, wampcra, scram, cryptosign or tls")
		}
		for j, sc := range p.SCRAM {
			sp := fmt.Sprintf("%s.scram[%d]", pp, j)
			if !slices.Contains([]string{auth.KDFArgon2id13, auth.KDFArgon2id13Autobahn, auth.KDFPBKDF2}, sc.KDF) {
				oneOf(r, sp+".kdf", sc.KDF, auth.KDFArgon2id13, auth.KDFArgon2id13Autobahn, auth.KDFPBKDF2)
			}
			for k, v := range map[string]int{"iterations": sc.Iterations, "memory": sc.Memory} {
				if v == 0 && (k == "iterations" || sc.KDF != auth.KDFPBKDF2) {
					r.errorAt(sp, sp+"."+k, "%s is required", k)
				}
			}
			for k, v := range map[string][]byte{"salt": sc.Salt, "stored_key": sc.StoredKey, "server_key": sc.ServerKey} {
				if len(v) == 0 {
					r.errorAt(sp, sp+"."+k, "%s is required (`junction passwd --method scram` prints it)", k)
				}
			}
		}
		for j, k := range p.Cryptosign {
			kp := fmt.Sprintf("%s.cryptosign[%d]", pp, j)
			if first, dup := keys[string(k)]; dup {
				r.errorf(kp, "the key is already %s's", first)
			}
			keys[string(k)] = p.AuthID
		}
		for j, f := range p.TLS {
			fp := fmt.Sprintf("%s.tls[%d]", pp, j)
			if first, dup := certs[f]; dup {
				r.errorf(fp, "the certificate is already %s's", first)
			}
			certs[f] = p.AuthID
		}
		if len(p.TLS) > 0 && !anyClientCerts(c) {
			r.errorf(pp+".tls", "no listener asks for client certificates: set tls.client_auth on a TLS listener")
		}
	}
	if dy := a.Dynamic; dy != nil {
		dp := ap + ".dynamic"
		checkProcedure(r, c, dp, dy.Procedure, dy.Realm)
		if len(dy.Methods) == 0 {
			r.errorAt(dp, dp+".methods", "list the methods it authenticates: ticket, wampcra, wamp-scram, cryptosign")
		}
		for i, m := range dy.Methods {
			if _, err := (&auth.Dynamic{}).Authenticator(auth.Canonical(m)); err != nil {
				r.errorf(fmt.Sprintf("%s.methods[%d]", dp, i), "%q is not one of ticket, wampcra, wamp-scram, cryptosign", m)
			}
		}
		if dy.Timeout <= 0 {
			r.errorf(dp+".timeout", "must be more than 0")
		}
	}
	if a.Throttle.MaxDelay < 0 {
		r.errorf(ap+".throttle.max_delay", "must be 0 (no throttle) or more")
	}
	if a.Cookie && !anyCookies(c) {
		r.errorf(ap+".cookie", "no listener sets cookies: add cookie: {} to a listener")
	}
}

// checkProcedure checks a dynamic authenticator's or authorizer's
// procedure and realm: a realm of the config (unless a template may make
// it), since every login or authorization would fail otherwise.
func checkProcedure(r *report, c *Config, path, proc, realm string) {
	if proc == "" {
		r.errorAt(path, path+".procedure", "the procedure to call is required")
	} else if !wamp.ValidURI(wamp.URI(proc), false, false) {
		r.errorf(path+".procedure", "%q is not a valid procedure URI", proc)
	}
	if realm == "" {
		return
	}
	if msg := checkRealmName(realm); msg != "" {
		r.errorf(path+".realm", "%s", msg)
		return
	}
	if c.RealmTemplate != nil {
		return
	}
	for _, rl := range c.Realms {
		if rl.Name == realm {
			return
		}
	}
	r.errorf(path+".realm", "%q is not a realm of this config (realms[].name)", realm)
}

func anyClientCerts(c *Config) bool {
	for _, l := range c.Listeners {
		if l.TLS != nil && l.TLS.ClientAuth != "" && l.TLS.ClientAuth != "none" {
			return true
		}
	}
	return false
}

func anyCookies(c *Config) bool {
	for _, l := range c.Listeners {
		if l.Cookie != nil {
			return true
		}
	}
	return false
}

// validateListenerAuth checks the authentication keys of a listener.
func validateListenerAuth(r *report, path string, l *Listener) {
	if t := l.TLS; t != nil && t.ClientAuth != "" {
		if oneOf(r, path+".tls.client_auth", t.ClientAuth, "none", "request", "verify") && t.ClientAuth == "verify" && t.ClientCA == "" {
			r.errorf(path+".tls.client_auth", "verify needs client_ca, the CA certificates that issue client certificates")
		}
		if t.ClientCA != "" && !r.skip(path+".tls.client_ca") {
			if pem, err := secfile.Read(t.ClientCA); err != nil {
				r.errorf(path+".tls.client_ca", "%v", err)
			} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
				r.errorf(path+".tls.client_ca", "%s holds no PEM certificate", t.ClientCA)
			}
		}
	}
	if c := l.Cookie; c != nil {
		if c.Name == "" || strings.ContainsAny(c.Name, "=;, \t\r\n\"") {
			r.errorf(path+".cookie.name", "%q is not a cookie name", c.Name)
		}
		if c.MaxAge < 0 {
			r.errorf(path+".cookie.max_age", "must not be negative")
		}
		if !l.WebSocket {
			r.errorf(path+".cookie", "cookies need websocket: true")
		}
	}
}

// validateAuthAll checks the auth sections of every realm and of the
// template.
func validateAuthAll(c *Config, r *report) {
	for i := range c.Listeners {
		validateListenerAuth(r, fmt.Sprintf("listeners[%d]", i), &c.Listeners[i])
	}
	for i := range c.Realms {
		validateAuth(r, c, fmt.Sprintf("realms[%d]", i), &c.Realms[i])
	}
	if t := c.RealmTemplate; t != nil {
		if t.Name != "" {
			r.errorf("realm_template.name", "a template has no name: a realm made from it is named by the client's HELLO")
		}
		validateAuth(r, c, "realm_template", t)
	}
}

// Build returns what the router needs of a realm's auth section: the
// authentication policy and the roles (nil, nil without an auth section).
// cookies is the router's cookie store, used when the realm accepts
// cookies. The Config must have passed validation.
func (rl *Realm) Build(cookies *auth.Cookies) (*auth.Policy, *auth.Roles, error) {
	a := rl.Auth
	if a == nil {
		return nil, nil, nil
	}
	pol := &auth.Policy{}
	if a.Throttle.MaxDelay > 0 {
		pol.Throttle = &auth.Throttle{Free: a.Throttle.Free, Max: a.Throttle.MaxDelay}
	}
	ps := make([]*auth.Principal, 0, len(a.Principals))
	has := map[string]bool{}
	for _, p := range a.Principals {
		ps = append(ps, &auth.Principal{AuthID: p.AuthID, Role: p.Role, Ticket: p.Ticket, CRA: p.WAMPCRA,
			SCRAM: p.SCRAM, PublicKeys: p.Cryptosign, CertFingerprints: p.TLS})
		has[auth.MethodTicket] = has[auth.MethodTicket] || p.Ticket != nil
		has[auth.MethodWAMPCRA] = has[auth.MethodWAMPCRA] || p.WAMPCRA != nil
		has[auth.MethodSCRAM] = has[auth.MethodSCRAM] || len(p.SCRAM) > 0
		has[auth.MethodCryptosign] = has[auth.MethodCryptosign] || len(p.Cryptosign) > 0
		has[auth.MethodTLS] = has[auth.MethodTLS] || len(p.TLS) > 0
	}
	tbl := auth.NewPrincipals(ps)
	if a.Cookie {
		pol.Cookies = cookies
		pol.Add(auth.MethodCookie, &auth.CookieAuth{Store: cookies, Principals: tbl})
	}
	if has[auth.MethodTLS] {
		pol.Add(auth.MethodTLS, &auth.TLSCert{Principals: tbl})
	}
	if has[auth.MethodCryptosign] {
		pol.Add(auth.MethodCryptosign, auth.NewCryptosign(tbl))
	}
	if has[auth.MethodSCRAM] {
		pol.Add(auth.MethodSCRAM, auth.NewSCRAM(tbl))
	}
	if has[auth.MethodWAMPCRA] {
		pol.Add(auth.MethodWAMPCRA, auth.NewWAMPCRA(tbl))
	}
	if has[auth.MethodTicket] {
		pol.Add(auth.MethodTicket, &auth.Ticket{Principals: tbl})
	}
	if dy := a.Dynamic; dy != nil {
		d := &auth.Dynamic{Realm: dy.Realm, Procedure: dy.Procedure, Timeout: dy.Timeout}
		for _, m := range dy.Methods {
			da, err := d.Authenticator(auth.Canonical(m))
			if err != nil {
				return nil, nil, err
			}
			pol.Add(auth.Canonical(m), da)
		}
	}
	if rl.Anonymous {
		pol.Add(auth.MethodAnonymous, &auth.Anonymous{Role: a.AnonymousRole})
	}
	if len(a.Roles) == 0 {
		return pol, nil, nil
	}
	roles := make([]*auth.Role, 0, len(a.Roles))
	for _, r := range a.Roles {
		ar := &auth.Role{Name: r.Name}
		ar.DiscloseCaller, _ = auth.ParseDisclose(r.DiscloseCaller)
		ar.DisclosePublisher, _ = auth.ParseDisclose(r.DisclosePublisher)
		if az := r.Authorizer; az != nil {
			ar.Authorizer = &auth.DynamicAuthorizer{Realm: az.Realm, Procedure: az.Procedure, Timeout: az.Timeout, CacheTTL: az.Cache}
		}
		for _, p := range r.Permissions {
			m, _ := wamp.ParseMatch(p.Match)
			var allow auth.Allow
			for _, s := range p.Allow {
				act, _ := auth.ParseAction(s)
				allow = allow.With(act)
			}
			ar.Permissions = append(ar.Permissions, auth.Permission{URI: p.URI, Match: m, Allow: allow})
		}
		roles = append(roles, ar)
	}
	rs, err := auth.NewRoles(roles)
	return pol, rs, err
}
