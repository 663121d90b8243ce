package websocket

import (
	"fmt"
	"strings"
)

// OriginPolicy decides which browser origins may open a WebSocket. A nil
// policy allows every origin.
type OriginPolicy struct {
	any   bool
	exact []string
	wild  []wildcard
}

// wildcard is "scheme://*.domain[:port]" split around the '*'.
type wildcard struct{ prefix, suffix string }

// NewOriginPolicy builds a policy from patterns, each an exact origin
// ("https://app.example.com"), a wildcard in the first label of the host
// ("https://*.example.com" allows https://a.example.com and
// https://a.b.example.com, but neither https://example.com nor another
// scheme or port), or "*" for any origin. Patterns and Origin headers are
// compared as origins are (RFC 6454): scheme and host without regard to
// case, and the scheme's default port (443 for https and wss, 80 for http
// and ws) the same as none, so that https://app.example.com:443 allows the
// https://app.example.com a browser sends. No patterns at all also means
// any origin, and the policy is nil.
func NewOriginPolicy(patterns []string) (*OriginPolicy, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	p := &OriginPolicy{}
	for _, pat := range patterns {
		if pat == "*" {
			p.any = true
			continue
		}
		pat = normalOrigin(pat)
		scheme, rest, ok := strings.Cut(pat, "://")
		if !ok || scheme == "" || rest == "" || strings.ContainsAny(rest, "/?#@") {
			return nil, fmt.Errorf("allowed origin %q: an origin is scheme://host[:port], with no path", pat)
		}
		if !strings.Contains(rest, "*") {
			p.exact = append(p.exact, pat)
			continue
		}
		if !strings.HasPrefix(rest, "*.") || strings.Count(rest, "*") > 1 || len(rest) < 3 {
			return nil, fmt.Errorf("allowed origin %q: a wildcard must be the whole first label of the host, as in https://*.example.com", pat)
		}
		p.wild = append(p.wild, wildcard{prefix: scheme + "://", suffix: rest[1:]})
	}
	return p, nil
}

// Allow reports whether origin (an Origin header's value) is allowed.
func (p *OriginPolicy) Allow(origin string) bool {
	if p == nil || p.any {
		return true
	}
	origin = normalOrigin(origin)
	for _, e := range p.exact {
		if origin == e {
			return true
		}
	}
	for _, w := range p.wild {
		if len(origin) <= len(w.prefix)+len(w.suffix) ||
			!strings.HasPrefix(origin, w.prefix) || !strings.HasSuffix(origin, w.suffix) {
			continue
		}
		sub := origin[len(w.prefix) : len(origin)-len(w.suffix)]
		if !strings.ContainsAny(sub, "/:@?#") && !strings.HasPrefix(sub, ".") && !strings.Contains(sub, "..") {
			return true
		}
	}
	return false
}

// normalOrigin is origin ("scheme://host[:port]") as it is compared: in
// lower case, without the scheme's default port, which RFC 6454 (section
// 6.2) leaves out of an origin's serialization. It allocates nothing for
// an origin already in that form, as browsers send them.
func normalOrigin(origin string) string {
	origin = strings.ToLower(origin)
	var port string
	switch {
	case strings.HasPrefix(origin, "https://"), strings.HasPrefix(origin, "wss://"):
		port = ":443"
	case strings.HasPrefix(origin, "http://"), strings.HasPrefix(origin, "ws://"):
		port = ":80"
	default:
		return origin
	}
	return strings.TrimSuffix(origin, port)
}
