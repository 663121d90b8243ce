package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/junction-wamp/junction/auth"
)

// Admin configures what an operator looks at: Prometheus metrics
// (/metrics), the health endpoints (/healthz, /readyz) and the live web
// view (/), and who may see them.
type Admin struct {
	// Enabled serves them. Nil takes the default: true when they would be
	// served on a loopback address or a Unix socket, false otherwise, so
	// that a config without an admin section, such as one written before
	// the section existed, does not start exposing them on a public
	// listener. A config file with an admin section has it set (true
	// unless it says enabled: false). Yaml key enabled.
	Enabled *bool
	// Address is where they are served: "" (the default) on the first
	// listener, next to its WebSocket path; the address of one of the
	// listeners, as written there, on that listener; any other address
	// (host:port or unix:/path) on a listener of their own that serves
	// HTTP only. Yaml key address.
	Address string
	// Metrics serves /metrics. Yaml key metrics; default true.
	Metrics bool
	// WebView serves the web view at /. Yaml key web_view; default true.
	WebView bool
	// Users log in with HTTP basic auth. Yaml key users.
	Users []AdminUser
	// Tokens are bearer tokens (Authorization: Bearer ...), for
	// Prometheus and scripts. Yaml key tokens.
	Tokens []AdminToken
	// AllowUnprotected allows serving metrics or the web view on an
	// address that is not a loopback address without users or tokens
	// (behind a proxy that checks, say). Yaml key allow_unprotected;
	// default false: such a config is refused.
	AllowUnprotected bool
	// Throttle slows down repeated login failures from one address, as
	// realms[].auth.throttle does for WAMP logins. Yaml key throttle.
	Throttle Throttle
	// TrustedProxies are the reverse proxies in front of a listener of
	// their own, as a listener's (Listener.TrustedProxies): the address
	// of a request from one of them is taken from X-Forwarded-For, for
	// the login throttle and the logs. Served on a WAMP listener, they
	// take that listener's. Yaml key trusted_proxies.
	TrustedProxies []string
}

// AdminUser is a basic-auth login of the admin endpoints.
type AdminUser struct {
	// Name is the user name; required, unique, without ':'. Yaml key name.
	Name string
	// Password is the hash of the password, from `junction passwd
	// --method ticket`. Required. Yaml key password.
	Password *auth.PasswordHash
	// Admin lets the user act (kill sessions), not only look. Yaml key
	// admin; default false.
	Admin bool
}

// AdminToken is a bearer token of the admin endpoints.
type AdminToken struct {
	// Name names the token in logs; unique. Yaml key name; default
	// "tokens[i]".
	Name string
	// Token is the hash of the token, from `junction passwd --method
	// ticket`. Required. Yaml key token.
	Token *auth.PasswordHash
	// Admin lets the token act, not only look. Yaml key admin; default
	// false.
	Admin bool
}

// The keys of the admin section.
var (
	adminKeys      = []string{"enabled", "address", "metrics", "web_view", "users", "tokens", "allow_unprotected", "throttle", "trusted_proxies"}
	adminUserKeys  = []string{"name", "password", "admin"}
	adminTokenKeys = []string{"name", "token", "admin"}
)

// defaultAdmin is the admin section before its keys are applied.
func defaultAdmin() Admin {
	return Admin{Metrics: true, WebView: true, Throttle: Throttle{Free: 3, MaxDelay: 5 * time.Second}}
}

// AdminListener says where the admin endpoints are served: on listener
// Listeners[index], or, when index is -1, on a listener of their own at
// address.
func (c *Config) AdminListener() (index int, address string) {
	switch a := c.Admin.Address; {
	case a == "":
		return 0, c.Listeners[0].Address
	default:
		for i, l := range c.Listeners {
			if l.Address == a {
				return i, a
			}
		}
		return -1, a
	}
}

// AdminEnabled reports whether the admin endpoints are served: Enabled,
// or its default.
func (c *Config) AdminEnabled() bool {
	if c.Admin.Enabled != nil {
		return *c.Admin.Enabled
	}
	if len(c.Listeners) == 0 && c.Admin.Address == "" {
		return false
	}
	_, addr := c.AdminListener()
	return IsLocalAddress(addr)
}

// IsLocalAddress reports whether a listener address can only be reached
// from this machine: a loopback address (127.0.0.0/8, ::1, localhost) or
// a Unix socket.
func IsLocalAddress(address string) bool {
	if strings.HasPrefix(address, "unix:") {
		return true
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func (d *decoder) admin(n *yaml.Node, path string, a *Admin) {
	defer func() {
		if a.Enabled == nil { // an admin section asks for them
			on := true
			a.Enabled = &on
		}
	}()
	d.mapping(n, path, adminKeys, func(key, path string, v *yaml.Node) {
		switch key {
		case "enabled":
			var b bool
			d.boolean(v, path, &b)
			a.Enabled = &b
		case "address":
			s, ok := d.expanded(v, path) // as a listener's: it may be one
			if !ok {
				return
			}
			if p, unix := strings.CutPrefix(s, "unix:"); unix && !strings.HasPrefix(p, "@") {
				s = "unix:" + d.abs(p)
			}
			a.Address = s
		case "metrics":
			d.boolean(v, path, &a.Metrics)
		case "web_view":
			d.boolean(v, path, &a.WebView)
		case "users":
			items, _ := d.sequence(v, path)
			for i, item := range items {
				ip := fmt.Sprintf("%s[%d]", path, i)
				d.r.setPos(ip, item)
				var u AdminUser
				d.mapping(item, ip, adminUserKeys, func(key, path string, v *yaml.Node) {
					switch key {
					case "name":
						d.str(v, path, &u.Name)
					case "password":
						u.Password = d.passwordHash(v, path, "a password")
					case "admin":
						d.boolean(v, path, &u.Admin)
					}
				})
				a.Users = append(a.Users, u)
			}
		case "tokens":
			items, _ := d.sequence(v, path)
			for i, item := range items {
				ip := fmt.Sprintf("%s[%d]", path, i)
				d.r.setPos(ip, item)
				var t AdminToken
				d.mapping(item, ip, adminTokenKeys, func(key, path string, v *yaml.Node) {
					switch key {
					case "name":
						d.str(v, path, &t.Name)
					case "token":
						t.Token = d.passwordHash(v, path, "a token")
					case "admin":
						d.boolean(v, path, &t.Admin)
					}
				})
				a.Tokens = append(a.Tokens, t)
			}
		case "allow_unprotected":
			d.boolean(v, path, &a.AllowUnprotected)
		case "trusted_proxies":
			if list := d.strings(v, path); list != nil {
				a.TrustedProxies = list
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
}

// passwordHash decodes a stored hash of a secret (what names it).
func (d *decoder) passwordHash(n *yaml.Node, path, what string) *auth.PasswordHash {
	s, ok := d.scalar(n, path)
	if !ok {
		return nil
	}
	h, err := auth.ParsePasswordHash(s)
	if err != nil {
		d.r.bad(n, path, "%v; %s is stored hashed: `junction passwd --method ticket` prints the hash", err, what)
		return nil
	}
	return h
}

// validateAdmin checks the admin section and returns where it binds when
// it has a listener of its own (ok false otherwise), for the conflict
// check with the listeners.
func validateAdmin(r *report, c *Config) (b bind, ok bool) {
	a := &c.Admin
	names := map[string]string{}
	for i, u := range a.Users {
		p := fmt.Sprintf("admin.users[%d]", i)
		switch {
		case u.Name == "" && !r.skip(p+".name"):
			r.errorAt(p, p+".name", "a user name is required")
		case strings.ContainsAny(u.Name, ":\r\n"):
			r.errorf(p+".name", "%q: a user name has no ':' (basic auth separates it from the password with one)", u.Name)
		case names[u.Name] != "":
			r.errorf(p+".name", "%q is already a user %s", u.Name, r.ref(names[u.Name]))
		default:
			names[u.Name] = p + ".name"
		}
		if u.Password == nil && !r.skip(p+".password") {
			r.errorAt(p, p+".password", "a password hash is required (`junction passwd --method ticket` prints one)")
		}
	}
	tokens := map[string]string{}
	for i, t := range a.Tokens {
		p := fmt.Sprintf("admin.tokens[%d]", i)
		if t.Name != "" {
			if first := tokens[t.Name]; first != "" {
				r.errorf(p+".name", "%q is already a token %s", t.Name, r.ref(first))
			}
			tokens[t.Name] = p + ".name"
		}
		if t.Token == nil && !r.skip(p+".token") {
			r.errorAt(p, p+".token", "a token hash is required (`junction passwd --method ticket` prints one)")
		}
	}
	if a.Throttle.MaxDelay < 0 {
		r.errorf("admin.throttle.max_delay", "must be 0 (no throttle) or more")
	}
	if len(c.Listeners) == 0 || r.skip("admin.address") {
		return bind{}, false
	}
	index, addr := c.AdminListener()
	checkTrustedProxies(r, "admin", a.TrustedProxies)
	if index >= 0 && len(a.TrustedProxies) > 0 {
		r.errorf("admin.trusted_proxies", "the admin endpoints are served on listeners[%d] (%s), whose trusted_proxies they take: list the proxies there", index, addr)
	}
	if index < 0 {
		if b, ok = checkAddress(r, "admin.address", addr); !ok {
			return bind{}, false
		}
	} else if r.skip(fmt.Sprintf("listeners[%d].address", index)) {
		return b, ok
	}
	if !c.AdminEnabled() || !a.Metrics && !a.WebView || len(a.Users) > 0 || len(a.Tokens) > 0 || a.AllowUnprotected || IsLocalAddress(addr) {
		return b, ok
	}
	at := "admin.enabled"
	switch {
	case r.has("admin.address"):
		at = "admin.address"
	case !r.has(at):
		at = "admin"
	}
	where := addr
	if index >= 0 {
		where = fmt.Sprintf("%s (listeners[%d])", addr, index)
	}
	r.errorAt(at, "admin", "metrics and the web view would be open to anyone on %s, which is not a loopback address: "+
		"add admin.users or admin.tokens, serve them on a loopback address (admin.address: 127.0.0.1:9090), "+
		"set admin.allow_unprotected: true (behind a proxy that checks), or admin.enabled: false", where)
	return b, ok
}

// AdminAccess returns the users and tokens of the admin section as the
// admin endpoints take them, and its throttle (nil when off).
func (a *Admin) AdminAccess() (users []AdminUser, tokens []AdminToken, throttle *auth.Throttle) {
	if a.Throttle.MaxDelay > 0 {
		throttle = &auth.Throttle{Free: a.Throttle.Free, Max: a.Throttle.MaxDelay}
	}
	for i, t := range a.Tokens {
		if t.Name == "" {
			t.Name = fmt.Sprintf("tokens[%d]", i)
		}
		tokens = append(tokens, t)
	}
	return a.Users, tokens, throttle
}
