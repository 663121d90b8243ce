package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/junction-wamp/junction/cluster"
	"github.com/junction-wamp/junction/internal/secfile"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/wamp"
)

// validate checks the decoded config c and records its problems in r.
// Checks on values that could not be decoded are skipped (see report.skip).
func validate(c *Config, r *report) {
	if len(c.Listeners) == 0 {
		r.errorf("listeners", "at least one listener is required")
	}
	binds := make([]bind, 0, len(c.Listeners))
	for i := range c.Listeners {
		if b, ok := validateListener(r, fmt.Sprintf("listeners[%d]", i), &c.Listeners[i]); ok {
			binds = append(binds, b)
		}
	}
	if b, ok := validateAdmin(r, c); ok { // admin.go
		binds = append(binds, b)
	}
	checkBindConflicts(r, binds)

	if len(c.Realms) == 0 {
		r.errorf("realms", "at least one realm is required")
	}
	names := make(map[string]string) // realm name -> key path where defined
	for i, rl := range c.Realms {
		path := fmt.Sprintf("realms[%d].name", i)
		if r.skip(path) {
			continue
		}
		if msg := checkRealmName(rl.Name); msg != "" {
			r.errorf(path, "%s", msg)
			continue
		}
		if first, dup := names[rl.Name]; dup {
			r.errorf(path, "%q is already defined %s", rl.Name, r.ref(first))
			continue
		}
		names[rl.Name] = path
	}
	// Webhooks and callees: an HTTP endpoint bound to a URI of a realm.
	endpoint := func(at, realm, uriKey, uri, match, u, authid, ticket string, timeout time.Duration) {
		if _, ok := names[realm]; !ok && c.RealmTemplate == nil && !r.skip(at+".realm") {
			r.errorf(at+".realm", "%q is not a realm of this config (realms[].name)", realm)
		}
		if uri == "" {
			r.errorf(at+"."+uriKey, "a %s is required", uriKey)
		}
		oneOf(r, at+".match", match, "exact", "prefix", "wildcard")
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			r.errorf(at+".url", "%q is not an http:// or https:// URL", u)
		}
		if authid != "" && ticket == "" {
			r.errorf(at+".authid", "%q needs its ticket (key ticket)", authid)
		}
		if timeout <= 0 {
			r.errorf(at+".timeout", "must be more than 0, got %v", timeout)
		}
	}
	for i, wh := range c.Webhooks {
		endpoint(fmt.Sprintf("webhooks[%d]", i), wh.Realm, "topic", wh.Topic, wh.Match, wh.URL, wh.AuthID, wh.Ticket, wh.Timeout)
	}
	for i, ce := range c.Callees {
		endpoint(fmt.Sprintf("callees[%d]", i), ce.Realm, "procedure", ce.Procedure, ce.Match, ce.URL, ce.AuthID, ce.Ticket, ce.Timeout)
	}
	for i, l := range c.Listeners {
		at := fmt.Sprintf("listeners[%d].bridge.realm", i)
		if l.Bridge == nil || r.skip(at) || c.RealmTemplate != nil {
			continue
		}
		if _, ok := names[l.Bridge.Realm]; !ok {
			r.errorf(at, "%q is not a realm of this config (realms[].name)", l.Bridge.Realm)
		}
	}
	for i := range c.Realms {
		validateRealm(r, fmt.Sprintf("realms[%d]", i), &c.Realms[i], c.Store.Path)
	}
	if t := c.RealmTemplate; t != nil {
		validateRealm(r, "realm_template", t, c.Store.Path)
		if len(t.History) > 0 {
			// The history store is opened with the rules of the realms
			// known at start; a realm made later would keep nothing.
			r.errorf("realm_template.history", "realms made from the template cannot keep event history: give history rules to realms listed under realms")
		}
	}
	validateStore(r, &c.Store)

	validateAuthAll(c, r) // auth.go

	validateLimits(r, &c.Limits)
	if c.Cluster != nil {
		validateCluster(r, c.Cluster)
	}
	oneOf(r, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf(r, "log.format", c.Log.Format, "text", "json")
}

// oneOf checks that the value of path is one of choices.
func oneOf(r *report, path, value string, choices ...string) bool {
	if slices.Contains(choices, value) {
		return true
	}
	r.errorf(path, "%q is not one of %s", value, strings.Join(choices, ", "))
	return false
}

// bind is where a listener listens, for finding listeners that would
// compete for the same socket.
type bind struct {
	path     string // key path of the listener's address
	address  string // as written
	unix     string // socket path for unix: listeners, else ""
	host     string // normalised host: IP address or lower-case host name
	wildcard bool   // host is empty, 0.0.0.0 or :: (every address)
	port     int
}

// validateListener checks one listener; ok is false when its address is
// not usable for the conflict check.
func validateListener(r *report, path string, l *Listener) (b bind, ok bool) {
	b, ok = checkAddress(r, path+".address", l.Address)
	if ok && b.unix != "" && l.TLS != nil {
		r.errorf(path+".tls", "TLS is not supported on unix: listeners; remove tls or listen on TCP")
	}

	if p := l.WebSocketPath; !strings.HasPrefix(p, "/") {
		r.errorf(path+".websocket_path", "%q must start with \"/\"", p)
	} else if strings.ContainsAny(p, "?# \t\r\n") {
		r.errorf(path+".websocket_path", "%q is not a plain URL path (no spaces, \"?\" or \"#\")", p)
	}
	if !l.WebSocket && !l.RawSocket && !r.skip(path+".websocket") && !r.skip(path+".rawsocket") {
		at := path + ".websocket"
		if !r.has(at) {
			at = path + ".rawsocket"
		}
		r.errorAt(at, path, "websocket and rawsocket are both false; enable at least one")
	}

	if l.TLS != nil {
		checkTLS(r, path+".tls", l.TLS)
	}
	if b := l.Bridge; b != nil {
		taken := map[string]string{}
		if l.WebSocket {
			taken[l.WebSocketPath] = "websocket_path"
		}
		for _, p := range []struct{ key, v string }{{"publish_path", b.PublishPath}, {"call_path", b.CallPath}} {
			at := path + ".bridge." + p.key
			switch {
			case !strings.HasPrefix(p.v, "/"):
				r.errorf(at, "%q must start with \"/\"", p.v)
			case strings.ContainsAny(p.v, "?# \t\r\n"):
				r.errorf(at, "%q is not a plain URL path (no spaces, \"?\" or \"#\")", p.v)
			case taken[p.v] != "":
				r.errorf(at, "%q is also %s", p.v, taken[p.v])
			case l.LongPoll.Enabled && (p.v == l.LongPoll.Path || strings.HasPrefix(p.v, l.LongPoll.Path+"/")):
				r.errorf(at, "%q is under longpoll.path %q", p.v, l.LongPoll.Path)
			default:
				taken[p.v] = p.key
			}
		}
		if b.CallTimeout <= 0 {
			r.errorf(path+".bridge.call_timeout", "must be more than 0, got %v", b.CallTimeout)
		}
		if b.SignatureWindow <= 0 {
			r.errorf(path+".bridge.signature_window", "must be more than 0, got %v", b.SignatureWindow)
		}
		seen := map[string]bool{}
		for i, k := range b.Keys {
			at := fmt.Sprintf("%s.bridge.keys[%d]", path, i)
			switch {
			case k.Key == "" || k.AuthID == "":
				r.errorf(at, "a key needs key, secret and authid")
			case len(k.Secret) < 16:
				r.errorf(at+".secret", "must be at least 16 characters (it is an HMAC key)")
			case seen[k.Key]:
				r.errorf(at+".key", "%q is listed twice", k.Key)
			}
			seen[k.Key] = true
		}
	}
	if lp := &l.LongPoll; lp.Enabled {
		at := path + ".longpoll.path"
		switch p := lp.Path; {
		case !strings.HasPrefix(p, "/") || p == "/" || strings.HasSuffix(p, "/"):
			r.errorf(at, "%q must start with \"/\", not end with it, and not be \"/\"", p)
		case strings.ContainsAny(p, "?# \t\r\n"):
			r.errorf(at, "%q is not a plain URL path (no spaces, \"?\" or \"#\")", p)
		case l.WebSocket && (p == l.WebSocketPath || strings.HasPrefix(l.WebSocketPath, p+"/")):
			r.errorf(at, "%q overlaps websocket_path %q", p, l.WebSocketPath)
		}
		for _, d := range []struct {
			key string
			v   time.Duration
		}{{"request_timeout", lp.RequestTimeout}, {"session_timeout", lp.SessionTimeout}} {
			if d.v <= 0 {
				r.errorf(path+".longpoll."+d.key, "must be more than 0, got %v", d.v)
			}
		}
	}

	for i, o := range l.AllowedOrigins {
		p := fmt.Sprintf("%s.allowed_origins[%d]", path, i)
		if msg := checkOrigin(o); msg != "" {
			r.errorf(p, "%s", msg)
		}
	}

	if l.ProxyProtocol && len(l.TrustedProxies) == 0 {
		r.errorf(path+".proxy_protocol", "the PROXY protocol needs trusted_proxies: the load balancers whose headers are believed (a header from anywhere else is read and ignored)")
	}
	checkTrustedProxies(r, path, l.TrustedProxies)

	if oneOf(r, path+".compression", l.Compression, "none", "deflate") && l.Compression == "deflate" &&
		!l.WebSocket && !r.skip(path+".websocket") {
		r.errorf(path+".compression", "\"deflate\" compresses WebSocket messages, and websocket is false; remove compression or enable websocket")
	}
	if oneOf(r, path+".engine", l.Engine, "auto", "epoll", "goroutine") && l.Engine == "epoll" && runtime.GOOS != "linux" {
		r.errorf(path+".engine", "\"epoll\" needs Linux (this is %s); use auto or goroutine", runtime.GOOS)
	}
	return b, ok
}

// maxUnixPath is the longest socket path the kernel accepts (sun_path
// less its terminating NUL).
func maxUnixPath() int {
	if runtime.GOOS == "linux" {
		return 107
	}
	return 103
}

// checkAddress checks a listener address and returns where it binds.
func checkAddress(r *report, path, addr string) (bind, bool) {
	if r.skip(path) {
		return bind{}, false
	}
	b := bind{path: path, address: addr}
	if addr == "" {
		r.errorf(path, "an address is required, like 127.0.0.1:8080 or unix:/run/junction/junction.sock")
		return b, false
	}
	if p, isUnix := strings.CutPrefix(addr, "unix:"); isUnix {
		switch {
		case p == "":
			r.errorf(path, "%q has no socket path; write unix:/path/to.sock", addr)
			return b, false
		case len(p) > maxUnixPath():
			r.errorf(path, "unix socket path is %d bytes long; the system allows at most %d", len(p), maxUnixPath())
			return b, false
		}
		b.unix = p
		if !strings.HasPrefix(p, "@") {
			b.unix = filepath.Clean(p)
		}
		return b, true
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		reason := err.Error()
		var ae *net.AddrError
		if errors.As(err, &ae) {
			reason = ae.Err
		}
		r.errorf(path, "%q is not a valid address: %s (use host:port, like 127.0.0.1:8080 or [::1]:8080, or unix:/path/to.sock)", addr, reason)
		return b, false
	}
	n, err := strconv.Atoi(port)
	if err != nil || n > 65535 || strings.Trim(port, "0123456789") != "" {
		r.errorf(path, "port %q in %q is not a number from 0 to 65535", port, addr)
		return b, false
	}
	b.port = n
	if host == "" {
		b.wildcard = true
		return b, true
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		b.host, b.wildcard = ip.String(), ip.IsUnspecified()
		return b, true
	}
	if !validHostName(host) {
		r.errorf(path, "host %q in %q is not an IP address or host name", host, addr)
		return b, false
	}
	b.host = strings.ToLower(strings.TrimSuffix(host, "."))
	return b, true
}

// validHostName reports whether h is a syntactically valid DNS name.
func validHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// checkBindConflicts reports listeners that would bind the same socket. A
// wildcard host (":8080", "0.0.0.0:8080", "[::]:8080") takes its port on
// every address, so it conflicts with any other listener on that port.
// Port 0 (a free port chosen at start) never conflicts.
func checkBindConflicts(r *report, binds []bind) {
	type hostPort struct {
		host string
		port int
	}
	var (
		unix     = make(map[string]bind)   // socket path -> first listener
		exact    = make(map[hostPort]bind) // host and port -> first listener
		wildcard = make(map[int]bind)      // port -> first wildcard listener
		anyHost  = make(map[int]bind)      // port -> first listener
	)
	for _, b := range binds {
		var prev bind
		var same, overlap bool
		switch {
		case b.unix != "":
			if prev, same = unix[b.unix]; !same {
				unix[b.unix] = b
			}
		case b.port == 0:
		case b.wildcard:
			if prev, same = wildcard[b.port]; !same {
				prev, overlap = anyHost[b.port]
				wildcard[b.port] = b
			}
		default:
			k := hostPort{b.host, b.port}
			if prev, same = exact[k]; !same {
				prev, overlap = wildcard[b.port]
				exact[k] = b
			}
		}
		if b.unix == "" && b.port != 0 {
			if _, ok := anyHost[b.port]; !ok {
				anyHost[b.port] = b
			}
		}
		switch {
		case same && b.address == prev.address:
			r.errorf(b.path, "%q is already used %s", b.address, r.ref(prev.path))
		case same:
			r.errorf(b.path, "%q is the same address as %q %s", b.address, prev.address, r.ref(prev.path))
		case overlap:
			r.errorf(b.path, "%q overlaps %q %s: a listener with an empty host, 0.0.0.0 or :: takes port %d on every address",
				b.address, prev.address, r.ref(prev.path), b.port)
		}
	}
}

// checkTLS checks that the certificate and key exist and form a pair.
func checkTLS(r *report, path string, t *TLS) {
	certPath, keyPath := path+".cert", path+".key"
	var cert, key []byte
	if t.CertFile == "" {
		r.errorAt(path, certPath, "a certificate file is required")
	} else if !r.skip(certPath) {
		var err error
		if cert, err = secfile.Read(t.CertFile); err != nil {
			r.errorf(certPath, "%v", err)
		}
	}
	if t.KeyFile == "" {
		r.errorAt(path, keyPath, "a private key file is required")
	} else if !r.skip(keyPath) {
		var err error
		if key, err = secfile.Read(t.KeyFile); err != nil {
			r.errorf(keyPath, "%v", err)
		}
	}
	if cert == nil || key == nil {
		return
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		at := keyPath
		// Point at the file the problem is in: tls names the input.
		if msg := err.Error(); strings.Contains(msg, "certificate input") || strings.HasPrefix(msg, "x509:") {
			at = certPath
		}
		r.errorf(at, "loading key pair %s and %s: %v", t.CertFile, t.KeyFile, err)
	}
}

// checkOrigin checks one allowed_origins entry and returns what is wrong
// with it, or "".
func checkOrigin(o string) string {
	if o == "*" {
		return ""
	}
	const form = `use "*" or scheme://host[:port], like https://app.example.com or https://*.example.com`
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return fmt.Sprintf("%q is not an origin (%s)", o, form)
	}
	if u.User != nil {
		return fmt.Sprintf("%q has user info; an origin is only scheme://host[:port]", o)
	}
	if u.Path == "/" && u.RawQuery == "" && u.Fragment == "" && !u.ForceQuery {
		return fmt.Sprintf("%q ends with \"/\"; browsers send origins without it, write %q", o, strings.TrimSuffix(o, "/"))
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return fmt.Sprintf("%q has a path, query or fragment; an origin is only scheme://host[:port]", o)
	}
	if lower := strings.ToLower(o); o != lower {
		return fmt.Sprintf("%q has upper-case letters; browsers send origins in lower case, write %q", o, lower)
	}
	host := u.Hostname()
	if rest, wild := strings.CutPrefix(host, "*."); wild {
		host = rest
	}
	if host == "" || strings.Contains(host, "*") {
		return fmt.Sprintf("%q: a wildcard must be the whole first label of the host, like https://*.example.com", o)
	}
	if strings.HasSuffix(u.Host, ":") {
		return fmt.Sprintf("%q ends with \":\" but has no port", o)
	}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("%q: port %q is not a number from 1 to 65535", o, port)
		}
		if def := map[string]int{"http": 80, "https": 443, "ws": 80, "wss": 443}[u.Scheme]; def == n {
			return fmt.Sprintf("%q names the default port; browsers leave it out, write %q", o, strings.TrimSuffix(o, ":"+port))
		}
	}
	return ""
}

// checkRealmName checks that name is a valid (loose) WAMP URI usable as a
// realm and returns what is wrong with it, or "".
func checkRealmName(name string) string {
	if name == "" {
		return "a realm name is required"
	}
	for _, c := range name {
		switch {
		case unicode.IsSpace(c):
			return fmt.Sprintf("%q is not a valid WAMP URI: it contains whitespace", name)
		case c == '#':
			return fmt.Sprintf("%q is not a valid WAMP URI: it contains '#'", name)
		case unicode.IsControl(c) || c == unicode.ReplacementChar:
			return fmt.Sprintf("%q is not a valid WAMP URI: it contains a control or invalid character", name)
		}
	}
	comps := strings.Split(name, ".")
	for i, comp := range comps {
		if comp != "" {
			continue
		}
		switch i {
		case 0:
			return fmt.Sprintf("%q is not a valid WAMP URI: it starts with '.'", name)
		case len(comps) - 1:
			return fmt.Sprintf("%q is not a valid WAMP URI: it ends with '.'", name)
		default:
			return fmt.Sprintf("%q is not a valid WAMP URI: it has an empty component (\"..\")", name)
		}
	}
	if comps[0] == "wamp" {
		return fmt.Sprintf("%q is reserved: URIs starting with \"wamp.\" belong to the WAMP protocol", name)
	}
	return ""
}

// validateRealm checks a realm's settings other than its name; store is
// the store path, which history rules need.
func validateRealm(r *report, path string, rl *Realm, store string) {
	oneOf(r, path+".disclose_caller", rl.DiscloseCaller, "on_request", "always", "never")
	oneOf(r, path+".disclose_publisher", rl.DisclosePublisher, "on_request", "always", "never")

	for _, role := range slices.Sorted(maps.Keys(rl.TrustLevels)) {
		p := join(path+".trust_levels", role)
		switch level := rl.TrustLevels[role]; {
		case role == "":
			r.errorf(p, "an authrole must not be empty")
		case level < 0 || level > MaxTrustLevel:
			r.errorf(p, "%d is not a trust level (a whole number from 0 to %d)", level, MaxTrustLevel)
		}
	}

	if len(rl.History) > 0 && store == "" {
		r.errorf(path+".history", "history rules need an event store: set store.path to the file that keeps the events")
	}
	rules := make(map[[2]string]string) // match and topic -> key path of the rule's topic
	for i, h := range rl.History {
		p := fmt.Sprintf("%s.history[%d]", path, i)
		matchOK := oneOf(r, p+".match", h.Match, "exact", "prefix", "wildcard")
		topicOK := false
		switch {
		case h.Topic == "":
			r.errorf(p+".topic", "a topic is required: the topic URI, or a pattern for prefix and wildcard matching")
		case matchOK:
			if msg := checkPattern(h.Match, h.Topic, rl.StrictURIs); msg != "" {
				r.errorf(p+".topic", "%s", msg)
			} else {
				topicOK = true
			}
		}
		if topicOK && !r.skip(p+".topic") && !r.skip(p+".match") {
			k := [2]string{h.Match, h.Topic}
			if first, dup := rules[k]; dup {
				r.errorf(p+".topic", "a rule for %q with match %s is already defined %s", h.Topic, h.Match, r.ref(first))
			} else {
				rules[k] = p + ".topic"
			}
		}
		switch {
		case h.Limit == 0 && !r.has(p+".limit"):
			r.errorf(p+".limit", "a limit is required: the number of events the rule keeps, 1 to %d", MaxHistoryLimit)
		case h.Limit < 1 || h.Limit > MaxHistoryLimit:
			r.errorf(p+".limit", "%d is out of range: a rule keeps 1 to %d events", h.Limit, MaxHistoryLimit)
		}
		if h.MaxBytes != 0 && h.MaxBytes < MinHistoryMaxBytes {
			r.errorf(p+".max_bytes", "%s is less than the minimum, %s (0 for no bound)", formatSize(h.MaxBytes), formatSize(MinHistoryMaxBytes))
		}
	}
}

// checkPattern checks a history rule's topic under its match policy and
// returns what is wrong with it, or "".
func checkPattern(match, topic string, strict bool) string {
	m, _ := wamp.ParseMatch(match)
	if wamp.ValidPattern(m, wamp.URI(topic), strict) {
		return ""
	}
	var msg string
	switch m {
	case wamp.MatchPrefix:
		msg = fmt.Sprintf("%q is not a valid prefix pattern: a URI, which may end with '.'", topic)
	case wamp.MatchWildcard:
		msg = fmt.Sprintf("%q is not a valid wildcard pattern: a URI whose components may be empty (the wildcards), like com.example..status", topic)
	default:
		msg = fmt.Sprintf("%q is not a valid URI: components separated by '.', none empty, without whitespace or '#'", topic)
	}
	if strict {
		msg += "; with strict_uris, components only of lower-case letters, digits and '_'"
	}
	return msg
}

// validateStore checks that the store file can be created or opened: it is
// a regular file, or it does not exist and its directory does.
func validateStore(r *report, st *Store) {
	const p = "store.path"
	if st.Path == "" || r.skip(p) {
		return
	}
	fi, err := os.Stat(st.Path)
	switch {
	case err == nil && fi.IsDir():
		r.errorf(p, "%s is a directory; name the store file, like %s", st.Path, filepath.Join(st.Path, "junction.db"))
	case err == nil && !fi.Mode().IsRegular():
		r.errorf(p, "%s is not a regular file", st.Path)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		dir := filepath.Dir(st.Path)
		if di, err := os.Stat(dir); err != nil {
			r.errorf(p, "the directory of the store file, %s, cannot be used: %v", dir, err)
		} else if !di.IsDir() {
			r.errorf(p, "%s is not a directory, so the store file cannot be created in it", dir)
		}
	case err != nil:
		r.errorf(p, "%v", err)
	}
}

// validateLimits checks the ranges of the limits and how they relate.
func validateLimits(r *report, l *Limits) {
	for _, s := range []struct {
		path     string
		v        int64
		min, max int64
	}{
		{"limits.max_message_size", l.MaxMessageSize, kib, gib},
		{"limits.max_pre_welcome_message_size", l.MaxPreWelcomeMessageSize, kib, gib},
		{"limits.max_partial_bytes", l.MaxPartialBytes, kib, 64 * gib},
		{"limits.outbound_queue", l.OutboundQueue, 4 * kib, gib},
	} {
		switch {
		case s.v < s.min:
			r.errorf(s.path, "%s is less than the minimum, %s", formatSize(s.v), formatSize(s.min))
		case s.v > s.max:
			r.errorf(s.path, "%s is more than the maximum, %s", formatSize(s.v), formatSize(s.max))
		}
	}

	// A message of max_message_size must fit in max_partial_bytes, or it
	// could never arrive.
	if l.MaxPartialBytes < l.MaxMessageSize && !r.skip("limits.max_partial_bytes") && !r.skip("limits.max_message_size") {
		// Point at the key the user wrote; if both or neither, at max_partial_bytes.
		if r.has("limits.max_message_size") && !r.has("limits.max_partial_bytes") {
			r.errorf("limits.max_message_size", "%s is more than max_partial_bytes (%s, the default), so such a message could never arrive; raise max_partial_bytes",
				formatSize(l.MaxMessageSize), formatSize(l.MaxPartialBytes))
		} else {
			r.errorf("limits.max_partial_bytes", "%s is less than max_message_size (%s), so such a message could never arrive",
				formatSize(l.MaxPartialBytes), formatSize(l.MaxMessageSize))
		}
	}

	oneOf(r, "limits.slow_consumer", l.SlowConsumer, "drop", "disconnect")

	positive := func(path string, d time.Duration) {
		if d <= 0 {
			r.errorf(path, "must be more than 0, got %v", d)
		}
	}
	positive("limits.hello_timeout", l.HelloTimeout)
	positive("limits.handshake_timeout", l.HandshakeTimeout)
	if l.IdleTimeout < 0 {
		r.errorf("limits.idle_timeout", "must be 0 (no idle timeout) or more, got %v", l.IdleTimeout)
	}
	if l.ShutdownTimeout < 0 {
		r.errorf("limits.shutdown_timeout", "must be 0 (close every connection at once) or more, got %v", l.ShutdownTimeout)
	}
	switch {
	case l.PingInterval < 0:
		r.errorf("limits.ping_interval", "must be 0 (no pings) or more, got %v", l.PingInterval)
	case l.PingInterval == 0:
		if l.PingTimeout < 0 {
			r.errorf("limits.ping_timeout", "must not be negative, got %v", l.PingTimeout)
		}
	case l.PingTimeout <= 0:
		r.errorf("limits.ping_timeout", "must be more than 0 when pings are on (ping_interval %v), got %v", l.PingInterval, l.PingTimeout)
	case l.PingTimeout >= l.PingInterval:
		if r.skip("limits.ping_timeout") || r.skip("limits.ping_interval") {
			break
		}
		// Point at the key the user wrote; if both or neither, at ping_timeout.
		if r.has("limits.ping_interval") && !r.has("limits.ping_timeout") {
			r.errorf("limits.ping_interval", "%v must be more than ping_timeout (%v, the default); raise it or lower ping_timeout", l.PingInterval, l.PingTimeout)
		} else {
			r.errorf("limits.ping_timeout", "%v must be less than ping_interval (%v)", l.PingTimeout, l.PingInterval)
		}
	}

	for _, n := range []struct {
		path string
		v    int
	}{
		{"limits.max_subscriptions_per_session", l.MaxSubscriptionsPerSession},
		{"limits.max_registrations_per_session", l.MaxRegistrationsPerSession},
		{"limits.max_calls_in_flight_per_session", l.MaxCallsInFlightPerSession},
	} {
		if n.v < 1 || n.v > MaxSessionLimit {
			r.errorf(n.path, "%d is out of range: a session limit is 1 to %d", n.v, MaxSessionLimit)
		}
	}
}

// NodeConfig is the cluster package's configuration for this section
// (without what comes from elsewhere: the router's largest message and
// the logger).
func (c *Cluster) NodeConfig() cluster.Config {
	nc := cluster.Config{
		Name: c.Name, NodeName: c.Node, Listen: c.Listen, Join: c.Join, NATS: c.NATS,
		HeartbeatInterval: c.HeartbeatInterval, NodeTimeout: c.NodeTimeout, Replicas: c.Replicas,
		Credentials: c.Credentials, RouteUser: c.RouteUser, RoutePassword: c.RoutePassword,
	}
	if c.TLS != nil {
		nc.TLS = &cluster.TLS{CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, CAFile: c.TLS.CAFile}
	}
	return nc
}

// validateCluster checks the cluster section with package cluster's own
// checks, each at its key.
func validateCluster(r *report, c *Cluster) {
	check := func(path string, err error) {
		if err != nil {
			r.errorf(path, "%v", err)
		}
	}
	check("cluster.name", cluster.CheckName(c.Name))
	check("cluster", cluster.CheckMode(c.Listen, c.Join, c.NATS))
	if c.Listen != "" {
		check("cluster.listen", cluster.CheckRouteAddr(c.Listen, false))
	}
	for i, j := range c.Join {
		check(fmt.Sprintf("cluster.join[%d]", i), cluster.CheckRouteAddr(j, true))
	}
	for i, u := range c.NATS {
		check(fmt.Sprintf("cluster.nats[%d]", i), cluster.CheckNATSURL(u))
	}
	check("cluster.node_timeout", cluster.CheckTimes(c.HeartbeatInterval, c.NodeTimeout))
	check("cluster.replicas", cluster.CheckReplicas(c.Replicas))
	if c.JetStreamDir != "" && c.Listen == "" {
		r.errorf("cluster.jetstream_dir", "only the embedded NATS server (cluster.listen) keeps JetStream data here; an existing NATS keeps its own")
	}
	nc := c.NodeConfig()
	for _, p := range cluster.CheckSecurity(&nc) {
		check("cluster."+p.Key, p.Err)
	}
}

// checkTrustedProxies checks the trusted_proxies of the section at path
// (a listener, or the admin endpoints' own listener).
func checkTrustedProxies(r *report, path string, list []string) {
	for i, tp := range list {
		if _, err := transport.ParseProxies([]string{tp}); err != nil {
			r.errorf(fmt.Sprintf("%s.trusted_proxies[%d]", path, i), "%q is not an IP address, a network (address/bits, such as 10.0.0.0/8) or unix:", tp)
		}
	}
}
