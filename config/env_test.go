package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"DIR": "/var/run", "EMPTY": "", "PORT": "9000", "A_1": "x"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tt := range []struct{ in, want, err string }{
		{in: "/plain/path.db", want: "/plain/path.db"},
		{in: "$DIR/j.sock", want: "/var/run/j.sock"},
		{in: "${DIR}/j.sock", want: "/var/run/j.sock"},
		{in: "${DIR}x$A_1.db", want: "/var/runxx.db"},
		{in: "${NOPE:-/tmp}/j.sock", want: "/tmp/j.sock"},
		{in: "${EMPTY:-/tmp}/j.sock", want: "/tmp/j.sock"},
		{in: "${DIR:-/tmp}/j.sock", want: "/var/run/j.sock"},
		{in: "${NOPE:-}j.sock", want: "j.sock"},
		{in: "127.0.0.1:${PORT:-8080}", want: "127.0.0.1:9000"},
		{in: "cost$$.db", want: "cost$.db"},
		{in: "$NOPE/j.sock", err: `"$NOPE/j.sock": $NOPE is not set (give a default with ${NOPE:-default})`},
		{in: "${EMPTY}/j.sock", err: `"${EMPTY}/j.sock": $EMPTY is not set (give a default with ${EMPTY:-default})`},
		{in: "${DIR/j.sock", err: `"${DIR/j.sock": ${ without its closing }`},
		{in: "a$/b", err: `"a$/b": $ is not a variable (write $NAME, ${NAME} or ${NAME:-default}, and $$ for a $)`},
		{in: "a$", err: `"a$": $ is not a variable (write $NAME, ${NAME} or ${NAME:-default}, and $$ for a $)`},
		{in: "${1X}", err: `"${1X}": ${1X} is not a variable (write $NAME, ${NAME} or ${NAME:-default}, and $$ for a $)`},
	} {
		got, err := expandEnv(tt.in, lookup)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tt.want || gotErr != tt.err {
			t.Errorf("expandEnv(%q) = %q, %q; want %q, %q", tt.in, got, gotErr, tt.want, tt.err)
		}
	}
}

// TestParseExpandsEnv checks where a config expands variables: file names
// and listener addresses (admin.address too), relative names after the expansion; and that an
// unset variable is refused with its line.
func TestParseExpandsEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("JUNCTION_TEST_DIR", dir)
	t.Setenv("JUNCTION_TEST_PORT", "9123")
	cfg, err := Parse(filepath.Join(dir, "junction.yaml"), []byte(lines(
		"listeners:",
		"  - address: 127.0.0.1:${JUNCTION_TEST_PORT}",
		"  - address: unix:$JUNCTION_TEST_DIR/j.sock",
		"  - address: unix:${JUNCTION_TEST_NAME:-rel}.sock",
		"realms:",
		"  - name: r",
		"    history: [{topic: a, limit: 1}]",
		"store:",
		"  path: ${JUNCTION_TEST_DIR}/h.db",
		"admin:",
		"  address: 127.0.0.1:${JUNCTION_TEST_PORT}",
	)))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"127.0.0.1:9123", "unix:" + dir + "/j.sock", "unix:" + filepath.Join(dir, "rel.sock")} {
		if got := cfg.Listeners[i].Address; got != want {
			t.Errorf("listeners[%d].address = %q, want %q", i, got, want)
		}
	}
	if want := dir + "/h.db"; cfg.Store.Path != want {
		t.Errorf("store.path = %q, want %q", cfg.Store.Path, want)
	}
	if want := "127.0.0.1:9123"; cfg.Admin.Address != want {
		t.Errorf("admin.address = %q, want %q (the first listener's, written the same way)", cfg.Admin.Address, want)
	}

	_, err = Parse("junction.yaml", []byte(lines("store:", "  path: $JUNCTION_TEST_UNSET/h.db")))
	if want := `junction.yaml:2:9: store.path: "$JUNCTION_TEST_UNSET/h.db": $JUNCTION_TEST_UNSET is not set (give a default with ${JUNCTION_TEST_UNSET:-default})`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("unset variable: %v\nwant %s", err, want)
	}
}
