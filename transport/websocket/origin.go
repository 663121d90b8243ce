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
// ("https://app.example.com", compared without regard to case), a wildcard
// in the first label of the host ("https://*.example.com" allows
// https://a.example.com and https://a.b.example.com, but neither
// https://example.com nor another scheme or port), or "*" for any origin.
// No patterns at all also means any origin, and the policy is nil.
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
		pat = strings.ToLower(pat)
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
	origin = strings.ToLower(origin)
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
