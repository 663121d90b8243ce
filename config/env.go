package config

import (
	"fmt"
	"strings"
)

// expandEnv replaces the environment variables (read with lookup) in a listener address or a file
// name: $NAME and ${NAME} by the variable's value, ${NAME:-default} by the
// value or, when NAME is unset or empty, by default; $$ is a '$'. A $NAME
// or ${NAME} that is unset or empty is an error rather than an empty string,
// which would silently move a socket or a store to another directory (the
// root, for unix:$DIR/junction.sock). It lets one file serve machines whose
// directories differ: unix:${RUNTIME_DIRECTORY:-/run/junction}/junction.sock
// under systemd, ${TMPDIR:-/tmp}/junction.sock for a try-out.
func expandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		rest := s[i+1:]
		var name, def string
		hasDef, braced := false, false
		switch {
		case strings.HasPrefix(rest, "$"):
			b.WriteByte('$')
			i++
			continue
		case strings.HasPrefix(rest, "{"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return "", fmt.Errorf("%q: ${ without its closing }", s)
			}
			name, def, hasDef = strings.Cut(rest[1:end], ":-")
			braced = true
			i += end + 1
		default:
			n := 0
			for n < len(rest) && isNameByte(rest[n], n) {
				n++
			}
			name = rest[:n]
			i += n
		}
		if !validEnvName(name) {
			what := "$" + name
			if braced {
				what = "${" + name + "}"
			}
			return "", fmt.Errorf("%q: %s is not a variable (write $NAME, ${NAME} or ${NAME:-default}, and $$ for a $)", s, what)
		}
		v, _ := lookup(name)
		if v == "" && !hasDef {
			return "", fmt.Errorf("%q: $%s is not set (give a default with ${%s:-default})", s, name, name)
		}
		if v == "" {
			v = def
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// isNameByte reports whether c may be the byte at position i of a
// variable's name: a letter or '_', and after the first byte a digit too.
func isNameByte(c byte, i int) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9'
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isNameByte(name[i], i) {
			return false
		}
	}
	return true
}
