package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The keys known in each mapping, in the order the reference lists them.
var (
	topKeys       = []string{"listeners", "realms", "realm_template", "store", "limits", "log", "webhooks", "callees", "admin", "cluster"}
	calleeKeys    = []string{"realm", "procedure", "match", "url", "secret", "authid", "ticket", "timeout", "concurrency"}
	webhookKeys   = []string{"realm", "topic", "match", "url", "secret", "authid", "ticket", "queue", "timeout", "retries"}
	listenerKeys  = []string{"address", "websocket_path", "websocket", "rawsocket", "tls", "allowed_origins", "trusted_proxies", "proxy_protocol", "engine", "compression", "max_pending_connections", "cookie", "longpoll", "bridge"}
	bridgeKeys    = []string{"realm", "publish_path", "call_path", "call_timeout", "keys", "signature_window"}
	bridgeKeyKeys = []string{"key", "secret", "authid"}
	longpollKeys  = []string{"enabled", "path", "request_timeout", "session_timeout", "max_per_address", "max_transports", "allow_address_change"}
	tlsKeys       = []string{"cert", "key", "client_auth", "client_ca"}
	realmKeys     = []string{"name", "strict_uris", "anonymous", "meta_api", "disclose_caller", "disclose_publisher", "trust_levels", "history", "auth"}
	historyKeys   = []string{"topic", "match", "limit", "max_bytes"}
	storeKeys     = []string{"path"}
	limitsKeys    = []string{"max_message_size", "max_pre_welcome_message_size", "max_partial_bytes", "outbound_queue", "slow_consumer", "hello_timeout", "handshake_timeout", "ping_interval", "ping_timeout", "rawsocket_pings", "idle_timeout", "shutdown_timeout", "max_subscriptions_per_session", "max_registrations_per_session", "max_calls_in_flight_per_session"}
	logKeys       = []string{"level", "format"}
	clusterKeys   = []string{"name", "node", "listen", "join", "nats", "heartbeat_interval", "node_timeout", "jetstream_dir", "replicas",
		"tls", "credentials", "route_user", "route_password"}
	clusterTLSKeys = []string{"cert", "key", "ca"}
)

// parseYAML parses data into a node tree and returns the root node of its
// document, or nil for a file without content (empty, only comments, or a
// null document).
func parseYAML(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(name, data, err)
	}
	for {
		var extra yaml.Node
		err := dec.Decode(&extra)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, syntaxError(name, data, err)
		}
		if len(extra.Content) > 0 && !isNull(extra.Content[0]) {
			return nil, &problem{file: name, pos: nodePos(&extra),
				msg: "a second YAML document starts here; a config file holds one document (remove the ---)"}
		}
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, nil
	}
	return doc.Content[0], nil
}

// yamlLine matches the line prefix of the YAML library's syntax errors.
var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// syntaxError turns a YAML syntax error into a problem naming the file and
// line. The library reports the line where the enclosing construct started,
// or no line at all for problems on the first line, so syntaxError looks
// for the first line at which the same error appears.
func syntaxError(name string, data []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if l := firstLineWithError(data, msg); l > 0 {
		line = l
	}
	if line > 0 && strings.Contains(msg, "cannot start any token") {
		lines := bytes.Split(data, []byte("\n"))
		if line <= len(lines) && bytes.ContainsRune(lines[line-1], '\t') {
			msg += " (YAML does not allow tabs for indentation; use spaces)"
		}
	}
	return &problem{file: name, pos: position{line: line}, msg: msg}
}

// firstLineWithError returns the smallest n such that the first n lines of
// data already fail to parse with msg, or 0 if data is too large to search.
// It assumes that once a prefix fails with msg every longer prefix does
// (the parser stops at the first error), and so binary-searches.
func firstLineWithError(data []byte, msg string) int {
	const maxBytes = 1 << 20
	if len(data) > maxBytes {
		return 0
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	ends := make([]int, len(lines)) // ends[i]: length of the first i+1 lines
	end := 0
	for i, l := range lines {
		end += len(l)
		ends[i] = end
	}
	failsWithMsg := func(i int) bool {
		err := parseAll(data[:ends[i]])
		if err == nil {
			return false
		}
		m := strings.TrimPrefix(err.Error(), "yaml: ")
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			m = sm[2]
		}
		return m == msg
	}
	lo, hi := 0, len(lines)-1 // the whole of data fails with msg
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if failsWithMsg(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo + 1
}

// parseAll parses every document in data and returns the first error.
func parseAll(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// baseDir is the directory that relative file names in the config named
// name are relative to.
func baseDir(name string) string {
	return filepath.Dir(name)
}

// decoder applies a YAML node tree to a Config, reporting every unknown key
// and every value of the wrong type.
type decoder struct {
	r   *report
	dir string // directory for relative file names
}

// resolve follows aliases (*name) to the node they refer to.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "no value"
		}
		return strconv.Quote(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// join appends key to the key path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping checks that n is a mapping (null counts as an empty one) and
// calls fn for each known key, in file order. Unknown, duplicate and merge
// keys are reported and skipped. With known nil every key is taken, and
// what names the keys and values in the message for a value that is not a
// mapping.
func (d *decoder) mapping(n *yaml.Node, path string, known []string, fn func(key, path string, v *yaml.Node), what ...string) {
	v := resolve(n)
	if isNull(v) {
		return
	}
	if v.Kind != yaml.MappingNode {
		of := strings.Join(known, ", ")
		if known == nil {
			of = strings.Join(what, "")
		}
		d.r.bad(n, path, "expected a mapping of %s, got %s", of, describe(v))
		return
	}
	where := "in " + path
	if path == "" {
		where = "at the top level"
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(v.Content); i += 2 {
		kn, val := v.Content[i], v.Content[i+1]
		k := resolve(kn)
		if k.Kind != yaml.ScalarNode {
			d.r.add(nodePos(kn), "", "a key must be a plain name %s, got %s", where, describe(k))
			continue
		}
		key := k.Value
		if k.ShortTag() == "!!merge" {
			d.r.add(nodePos(kn), "", "merge keys (<<) are not supported %s; write the keys out", where)
			continue
		}
		if line, dup := seen[key]; dup {
			d.r.add(nodePos(kn), "", "duplicate key %q %s (first at line %d)", key, where, line)
			continue
		}
		seen[key] = kn.Line
		if known != nil && !slices.Contains(known, key) {
			d.r.add(nodePos(kn), "", "unknown key %q %s (known: %s)", key, where, strings.Join(known, ", "))
			continue
		}
		p := join(path, key)
		d.r.setPos(p, val)
		fn(key, p, val)
	}
}

// sequence returns the items of the list n. ok is false when n is null
// (the key then keeps its default) or not a list (reported).
func (d *decoder) sequence(n *yaml.Node, path string) (items []*yaml.Node, ok bool) {
	v := resolve(n)
	if isNull(v) {
		return nil, false
	}
	if v.Kind != yaml.SequenceNode {
		d.r.bad(n, path, "expected a list, got %s", describe(v))
		return nil, false
	}
	return v.Content, true
}

// scalar returns the text of the single value n.
func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	v := resolve(n)
	switch {
	case v.Kind != yaml.ScalarNode:
		d.r.bad(n, path, "expected a single value, got %s", describe(v))
		return "", false
	case isNull(v):
		d.r.bad(n, path, "no value given (write one, or remove the key to get the default)")
		return "", false
	}
	return v.Value, true
}

func (d *decoder) str(n *yaml.Node, path string, dst *string) {
	if s, ok := d.scalar(n, path); ok {
		*dst = s
	}
}

func (d *decoder) boolean(n *yaml.Node, path string, dst *bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return
	}
	switch strings.ToLower(s) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		d.r.bad(n, path, "%q is not a boolean (use true or false)", s)
	}
}

// integer decodes a whole number (decimal, optionally signed) and reports
// whether it did.
func (d *decoder) integer(n *yaml.Node, path string, dst *int) bool {
	s, ok := d.scalar(n, path)
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) || err == nil && (v > math.MaxInt || v < math.MinInt):
		d.r.bad(n, path, "%q is too large", s)
	case err != nil:
		d.r.bad(n, path, "%q is not a whole number", s)
	default:
		*dst = int(v)
		return true
	}
	return false
}

func (d *decoder) size(n *yaml.Node, path string, dst *int64) {
	s, ok := d.scalar(n, path)
	if !ok {
		return
	}
	v, err := parseSize(s)
	switch {
	case errors.Is(err, errSizeTooLarge):
		d.r.bad(n, path, "%q is too large", s)
	case err != nil:
		d.r.bad(n, path, "%q is not a size (use bytes or a unit like 16MiB)", s)
	default:
		*dst = v
	}
}

func (d *decoder) duration(n *yaml.Node, path string, dst *time.Duration) {
	s, ok := d.scalar(n, path)
	if !ok {
		return
	}
	v, err := parseDuration(s)
	if err != nil {
		d.r.bad(n, path, "%v", err)
		return
	}
	*dst = v
}

// file decodes a file name, expanding environment variables (expandEnv)
// and making a relative name relative to the config file's directory.
func (d *decoder) file(n *yaml.Node, path string, dst *string) {
	s, ok := d.expanded(n, path)
	if !ok {
		return
	}
	*dst = d.abs(s)
}

// expanded decodes a scalar in which environment variables are expanded:
// a file name or a listener address.
func (d *decoder) expanded(n *yaml.Node, path string) (string, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return "", false
	}
	s, err := expandEnv(s, os.LookupEnv)
	if err != nil {
		d.r.bad(n, path, "%v", err)
		return "", false
	}
	return s, true
}

func (d *decoder) abs(name string) string {
	if name == "" || filepath.IsAbs(name) || d.dir == "." || d.dir == "" {
		return name
	}
	return filepath.Join(d.dir, name)
}

func (d *decoder) config(n *yaml.Node, c *Config) {
	d.r.setPos("", n)
	d.mapping(n, "", topKeys, func(key, path string, v *yaml.Node) {
		switch key {
		case "listeners":
			d.listeners(v, path, c)
		case "realms":
			d.realms(v, path, c)
		case "store":
			d.mapping(v, path, storeKeys, func(key, path string, v *yaml.Node) {
				d.file(v, path, &c.Store.Path)
			})
		case "realm_template":
			d.realmTemplate(v, path, c)
		case "callees":
			items, ok := d.sequence(v, path)
			if !ok {
				return
			}
			for i, item := range items {
				ip := fmt.Sprintf("%s[%d]", path, i)
				d.r.setPos(ip, item)
				ce := Callee{Realm: "realm1", Match: "exact", Timeout: 30 * time.Second, Concurrency: 16}
				d.mapping(item, ip, calleeKeys, func(key, path string, v *yaml.Node) {
					switch key {
					case "realm":
						d.str(v, path, &ce.Realm)
					case "procedure":
						d.str(v, path, &ce.Procedure)
					case "match":
						d.str(v, path, &ce.Match)
					case "url":
						d.str(v, path, &ce.URL)
					case "secret":
						d.str(v, path, &ce.Secret)
					case "authid":
						d.str(v, path, &ce.AuthID)
					case "ticket":
						d.str(v, path, &ce.Ticket)
					case "timeout":
						d.duration(v, path, &ce.Timeout)
					case "concurrency":
						d.positive(v, path, &ce.Concurrency)
					}
				})
				c.Callees = append(c.Callees, ce)
			}
		case "webhooks":
			items, ok := d.sequence(v, path)
			if !ok {
				return
			}
			for i, item := range items {
				ip := fmt.Sprintf("%s[%d]", path, i)
				d.r.setPos(ip, item)
				wh := Webhook{Realm: "realm1", Match: "exact", Queue: 1000, Timeout: 10 * time.Second, Retries: 5}
				d.mapping(item, ip, webhookKeys, func(key, path string, v *yaml.Node) {
					switch key {
					case "realm":
						d.str(v, path, &wh.Realm)
					case "topic":
						d.str(v, path, &wh.Topic)
					case "match":
						d.str(v, path, &wh.Match)
					case "url":
						d.str(v, path, &wh.URL)
					case "secret":
						d.str(v, path, &wh.Secret)
					case "authid":
						d.str(v, path, &wh.AuthID)
					case "ticket":
						d.str(v, path, &wh.Ticket)
					case "queue":
						d.positive(v, path, &wh.Queue)
					case "timeout":
						d.duration(v, path, &wh.Timeout)
					case "retries":
						if d.integer(v, path, &wh.Retries) && wh.Retries < 0 {
							d.r.bad(v, path, "%d is negative", wh.Retries)
						}
					}
				})
				c.Webhooks = append(c.Webhooks, wh)
			}
		case "limits":
			d.limits(v, path, &c.Limits)
		case "log":
			d.log(v, path, &c.Log)
		case "admin":
			if isNull(resolve(v)) {
				return // as if left out: not "an admin section asks for them"
			}
			d.admin(v, path, &c.Admin) // admin.go
		case "cluster":
			if isNull(resolve(v)) {
				c.Cluster = nil
				return
			}
			cl := DefaultCluster()
			c.Cluster = &cl
			d.cluster(v, path, c.Cluster)
		}
	})
	// The default listener, kept when the file has no listeners, brings
	// the bridge for realm1 only to a config that has realm1.
	if len(c.Listeners) == 1 && !d.r.has("listeners") {
		if l := &c.Listeners[0]; l.Bridge != nil &&
			!slices.ContainsFunc(c.Realms, func(r Realm) bool { return r.Name == l.Bridge.Realm }) {
			l.Bridge = nil
		}
	}
}

func (d *decoder) cluster(n *yaml.Node, path string, c *Cluster) {
	d.mapping(n, path, clusterKeys, func(key, path string, v *yaml.Node) {
		switch key {
		case "name":
			d.str(v, path, &c.Name)
		case "node":
			d.str(v, path, &c.Node)
		case "listen":
			d.str(v, path, &c.Listen)
		case "join":
			c.Join = d.strings(v, path)
		case "nats":
			c.NATS = d.strings(v, path)
		case "heartbeat_interval":
			d.duration(v, path, &c.HeartbeatInterval)
		case "node_timeout":
			d.duration(v, path, &c.NodeTimeout)
		case "jetstream_dir":
			d.file(v, path, &c.JetStreamDir)
		case "replicas":
			d.integer(v, path, &c.Replicas)
		case "tls":
			if isNull(resolve(v)) {
				c.TLS = nil
				return
			}
			c.TLS = &ClusterTLS{}
			d.mapping(v, path, clusterTLSKeys, func(key, path string, v *yaml.Node) {
				switch key {
				case "cert":
					d.file(v, path, &c.TLS.CertFile)
				case "key":
					d.file(v, path, &c.TLS.KeyFile)
				case "ca":
					d.file(v, path, &c.TLS.CAFile)
				}
			})
		case "credentials":
			d.file(v, path, &c.Credentials)
		case "route_user":
			c.RouteUser, _ = d.expanded(v, path)
		case "route_password":
			c.RoutePassword, _ = d.expanded(v, path)
		}
	})
}

func (d *decoder) listeners(n *yaml.Node, path string, c *Config) {
	items, ok := d.sequence(n, path)
	if !ok {
		return
	}
	c.Listeners = make([]Listener, 0, len(items))
	for i, item := range items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		d.r.setPos(ip, item)
		l := defaultListener("")
		d.listener(item, ip, &l)
		c.Listeners = append(c.Listeners, l)
	}
}

func (d *decoder) listener(n *yaml.Node, path string, l *Listener) {
	d.mapping(n, path, listenerKeys, func(key, path string, v *yaml.Node) {
		switch key {
		case "address":
			s, ok := d.expanded(v, path)
			if !ok {
				return
			}
			if p, unix := strings.CutPrefix(s, "unix:"); unix && !strings.HasPrefix(p, "@") {
				s = "unix:" + d.abs(p)
			}
			l.Address = s
		case "websocket_path":
			d.str(v, path, &l.WebSocketPath)
		case "max_pending_connections":
			d.positive(v, path, &l.MaxPendingConnections)
		case "websocket":
			d.boolean(v, path, &l.WebSocket)
		case "rawsocket":
			d.boolean(v, path, &l.RawSocket)
		case "proxy_protocol":
			d.boolean(v, path, &l.ProxyProtocol)
		case "tls":
			if isNull(resolve(v)) {
				l.TLS = nil
				return
			}
			l.TLS = &TLS{ClientAuth: "none"} // the default, as written
			d.mapping(v, path, tlsKeys, func(key, path string, v *yaml.Node) {
				switch key {
				case "cert":
					d.file(v, path, &l.TLS.CertFile)
				case "key":
					d.file(v, path, &l.TLS.KeyFile)
				case "client_auth":
					d.str(v, path, &l.TLS.ClientAuth)
				case "client_ca":
					d.file(v, path, &l.TLS.ClientCA)
				}
			})
		case "allowed_origins":
			if list := d.strings(v, path); list != nil {
				l.AllowedOrigins = list
			}
		case "trusted_proxies":
			if list := d.strings(v, path); list != nil {
				l.TrustedProxies = list
			}
		case "engine":
			d.str(v, path, &l.Engine)
		case "compression":
			d.str(v, path, &l.Compression)
		case "cookie":
			if isNull(resolve(v)) {
				l.Cookie = nil
				return
			}
			l.Cookie = d.cookie(v, path)
		case "bridge":
			if isNull(resolve(v)) {
				l.Bridge = nil
				return
			}
			l.Bridge = defaultBridge()
			d.mapping(v, path, bridgeKeys, func(key, path string, v *yaml.Node) {
				switch key {
				case "realm":
					d.str(v, path, &l.Bridge.Realm)
				case "publish_path":
					d.str(v, path, &l.Bridge.PublishPath)
				case "call_path":
					d.str(v, path, &l.Bridge.CallPath)
				case "call_timeout":
					d.duration(v, path, &l.Bridge.CallTimeout)
				case "signature_window":
					d.duration(v, path, &l.Bridge.SignatureWindow)
				case "keys":
					items, ok := d.sequence(v, path)
					if !ok {
						return
					}
					for i, item := range items {
						ip := fmt.Sprintf("%s[%d]", path, i)
						d.r.setPos(ip, item)
						var k BridgeKey
						d.mapping(item, ip, bridgeKeyKeys, func(key, path string, v *yaml.Node) {
							switch key {
							case "key":
								d.str(v, path, &k.Key)
							case "secret":
								d.str(v, path, &k.Secret)
							case "authid":
								d.str(v, path, &k.AuthID)
							}
						})
						l.Bridge.Keys = append(l.Bridge.Keys, k)
					}
				}
			})
		case "longpoll":
			d.mapping(v, path, longpollKeys, func(key, path string, v *yaml.Node) {
				lp := &l.LongPoll
				switch key {
				case "enabled":
					d.boolean(v, path, &lp.Enabled)
				case "path":
					d.str(v, path, &lp.Path)
				case "request_timeout":
					d.duration(v, path, &lp.RequestTimeout)
				case "session_timeout":
					d.duration(v, path, &lp.SessionTimeout)
				case "max_per_address":
					d.positive(v, path, &lp.MaxPerAddress)
				case "max_transports":
					d.positive(v, path, &lp.MaxTransports)
				case "allow_address_change":
					d.boolean(v, path, &lp.AllowAddressChange)
				}
			})
		}
	})
}

func (d *decoder) realms(n *yaml.Node, path string, c *Config) {
	items, ok := d.sequence(n, path)
	if !ok {
		return
	}
	c.Realms = make([]Realm, 0, len(items))
	for i, item := range items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		d.r.setPos(ip, item)
		rl := defaultRealm("")
		d.mapping(item, ip, realmKeys, func(key, path string, v *yaml.Node) {
			switch key {
			case "name":
				d.str(v, path, &rl.Name)
			case "strict_uris":
				d.boolean(v, path, &rl.StrictURIs)
			case "anonymous":
				d.boolean(v, path, &rl.Anonymous)
			case "meta_api":
				d.boolean(v, path, &rl.MetaAPI)
			case "disclose_caller":
				d.str(v, path, &rl.DiscloseCaller)
			case "disclose_publisher":
				d.str(v, path, &rl.DisclosePublisher)
			case "trust_levels":
				d.trustLevels(v, path, &rl)
			case "history":
				d.history(v, path, &rl)
			case "auth":
				if isNull(resolve(v)) {
					rl.Auth = nil
					return
				}
				rl.Auth = d.realmAuth(v, path)
			}
		})
		c.Realms = append(c.Realms, rl)
	}
}

// trustLevels decodes a mapping of authrole to trust level.
func (d *decoder) trustLevels(n *yaml.Node, path string, rl *Realm) {
	if isNull(resolve(n)) {
		return
	}
	rl.TrustLevels = make(map[string]int)
	d.mapping(n, path, nil, func(role, path string, v *yaml.Node) {
		var level int
		if d.integer(v, path, &level) {
			rl.TrustLevels[role] = level
		}
	}, "authrole: trust level")
}

// history decodes the list of history rules.
func (d *decoder) history(n *yaml.Node, path string, rl *Realm) {
	items, ok := d.sequence(n, path)
	if !ok {
		return
	}
	rl.History = make([]HistoryRule, 0, len(items))
	for i, item := range items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		d.r.setPos(ip, item)
		h := HistoryRule{Match: "exact"}
		d.mapping(item, ip, historyKeys, func(key, path string, v *yaml.Node) {
			switch key {
			case "topic":
				d.str(v, path, &h.Topic)
			case "match":
				d.str(v, path, &h.Match)
			case "limit":
				d.integer(v, path, &h.Limit)
			case "max_bytes":
				d.size(v, path, &h.MaxBytes)
			}
		})
		rl.History = append(rl.History, h)
	}
}

func (d *decoder) limits(n *yaml.Node, path string, l *Limits) {
	d.mapping(n, path, limitsKeys, func(key, path string, v *yaml.Node) {
		switch key {
		case "max_message_size":
			d.size(v, path, &l.MaxMessageSize)
		case "max_pre_welcome_message_size":
			d.size(v, path, &l.MaxPreWelcomeMessageSize)
		case "max_partial_bytes":
			d.size(v, path, &l.MaxPartialBytes)
		case "outbound_queue":
			d.size(v, path, &l.OutboundQueue)
		case "slow_consumer":
			d.str(v, path, &l.SlowConsumer)
		case "hello_timeout":
			d.duration(v, path, &l.HelloTimeout)
		case "handshake_timeout":
			d.duration(v, path, &l.HandshakeTimeout)
		case "ping_interval":
			d.duration(v, path, &l.PingInterval)
		case "ping_timeout":
			d.duration(v, path, &l.PingTimeout)
		case "rawsocket_pings":
			d.boolean(v, path, &l.RawSocketPings)
		case "idle_timeout":
			d.duration(v, path, &l.IdleTimeout)
		case "shutdown_timeout":
			d.duration(v, path, &l.ShutdownTimeout)
		case "max_subscriptions_per_session":
			d.integer(v, path, &l.MaxSubscriptionsPerSession)
		case "max_registrations_per_session":
			d.integer(v, path, &l.MaxRegistrationsPerSession)
		case "max_calls_in_flight_per_session":
			d.integer(v, path, &l.MaxCallsInFlightPerSession)
		}
	})
}

func (d *decoder) log(n *yaml.Node, path string, l *Log) {
	d.mapping(n, path, logKeys, func(key, path string, v *yaml.Node) {
		switch key {
		case "level":
			d.str(v, path, &l.Level)
		case "format":
			d.str(v, path, &l.Format)
		}
	})
}

var (
	errNotSize      = errors.New("not a size")
	errSizeTooLarge = errors.New("size too large")
)

// sizeUnits maps a lower-case size unit to its number of bytes. KB, MB, GB
// and TB are decimal; KiB, MiB, GiB and TiB binary.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// parseSize parses a byte count: a non-negative integer, optionally
// followed (with or without a space) by a unit from sizeUnits, in any case:
// "1048576", "16MiB", "512 KiB", "1MB" (1,000,000).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, errNotSize
	}
	mult, ok := sizeUnits[strings.ToLower(strings.TrimSpace(s[i:]))]
	if !ok {
		return 0, errNotSize
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, errSizeTooLarge
	}
	return n * mult, nil
}

// formatSize writes n in the largest binary unit that divides it exactly.
func formatSize(n int64) string {
	switch {
	case n != 0 && n%gib == 0:
		return fmt.Sprintf("%dGiB", n/gib)
	case n != 0 && n%mib == 0:
		return fmt.Sprintf("%dMiB", n/mib)
	case n != 0 && n%kib == 0:
		return fmt.Sprintf("%dKiB", n/kib)
	}
	return fmt.Sprintf("%d bytes", n)
}

var bareNumber = regexp.MustCompile(`^[-+]?[0-9]*\.?[0-9]+$`)

// parseDuration parses a Go duration ("10s", "1m30s", "500ms"). A bare
// number other than 0 is refused: it has no unit.
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	d, err := time.ParseDuration(t)
	if err == nil {
		return d, nil
	}
	if bareNumber.MatchString(t) {
		return 0, fmt.Errorf("%q has no unit (write it like %ss or %sms)", s, t, t)
	}
	return 0, fmt.Errorf("%q is not a duration (use a number with a unit, like 10s, 500ms or 1m30s)", s)
}
