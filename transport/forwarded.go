package transport

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Behind a reverse proxy (nginx, a cloud load balancer, an ingress),
// every connection comes from the proxy's address, so whatever the
// router keys on a client's address would treat the whole fleet as one
// client: the login throttle's line (8 logins in progress per address),
// the long-poll transports per address, the address in the meta API and
// the logs. Server.TrustedProxies names the proxies; for a request that
// comes from one, the client's address is the one the proxies added to
// X-Forwarded-For, read from the right (each proxy appends the address
// it received the request from) past every hop that is itself a trusted
// proxy, as nginx's real_ip module does with real_ip_recursive. What a
// client wrote into the header itself is to the left of what the
// proxies added, and never read while a hop the proxies vouch for
// remains. A request from any other address keeps its own: anyone can
// send the header.

// clientAddr returns the address of the client of a request that came
// from remote with the X-Forwarded-For header lines xff: remote itself
// unless it is a trusted proxy; otherwise the right-most address of xff
// that is not one (the left-most if all are), or remote when xff is
// empty or that entry is not an address (a proxy that writes garbage is
// not believed).
func clientAddr(remote string, xff []string, trusted *Proxies) string {
	if len(xff) == 0 || !trusted.peer(remote) {
		return remote
	}
	var last netip.Addr
	for i := len(xff) - 1; i >= 0; i-- {
		line := xff[i]
		for line != "" {
			var entry string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				entry, line = line[j+1:], line[:j]
			} else {
				entry, line = line, ""
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			a := hostAddr(entry)
			if !a.IsValid() {
				return remote
			}
			last = a
			if !trusted.has(a) {
				return a.String()
			}
		}
	}
	if last.IsValid() {
		return last.String()
	}
	return remote
}

// hostAddr parses an address with or without a port ("192.0.2.1",
// "192.0.2.1:4711", "[2001:db8::1]:4711", "2001:db8::1"), IPv4-mapped
// IPv6 addresses unmapped and without an IPv6 zone ("%eth0": the
// interface a link-local address was reached on, which a network never
// contains, and text a header may carry); the zero Addr when it is none.
func hostAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.Addr{}
}

// Proxies are the reverse proxies a listener trusts to say who their
// clients are (ParseProxies). The nil *Proxies trusts none.
type Proxies struct {
	nets []netip.Prefix
	unix bool // connections over a Unix socket come from a proxy
}

// peer reports whether the connection from remote comes from a trusted
// proxy.
func (p *Proxies) peer(remote string) bool {
	if p == nil {
		return false
	}
	if strings.HasPrefix(remote, "unix:") || remote == "@" || remote == "" {
		return p.unix
	}
	return p.has(hostAddr(remote))
}

func (p *Proxies) has(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// TrustForwarded gives h requests whose RemoteAddr is the client's
// address behind the trusted proxies (clientAddr), so that the long-poll
// transport, the HTTP bridge and the admin endpoints see clients, not
// the proxy. With no trusted proxies it returns h.
func TrustForwarded(h http.Handler, trusted *Proxies) http.Handler {
	if trusted == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if addr := clientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), trusted); addr != r.RemoteAddr {
			r2 := *r
			r2.RemoteAddr = addr
			r = &r2
		}
		h.ServeHTTP(w, r)
	})
}

// ParseProxies parses the addresses of trusted reverse proxies for
// Server.TrustedProxies: IP addresses ("10.0.0.1"), networks
// ("10.0.0.0/8", "2001:db8::/32") and "unix:" for every connection over a
// Unix socket (nginx's set_real_ip_from takes the same). It returns nil
// for an empty list.
func ParseProxies(list []string) (*Proxies, error) {
	if len(list) == 0 {
		return nil, nil
	}
	p := &Proxies{}
	for _, s := range list {
		switch {
		case s == "unix:":
			p.unix = true
		case strings.Contains(s, "/"):
			n, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
			}
			if n.Addr().Is4In6() && n.Bits() >= 96 {
				n = netip.PrefixFrom(n.Addr().Unmap(), n.Bits()-96)
			}
			p.nets = append(p.nets, n.Masked())
		default:
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("trusted proxy %q: not an IP address, a network (address/bits) or unix:", s)
			}
			a = a.Unmap()
			p.nets = append(p.nets, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return p, nil
}
