package history

import (
	"bytes"
	"os"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/junction-wamp/junction/wamp"
)

// TestOpenRefusesBadFiles checks that a file that is not an event history,
// or one whose content is damaged, makes Open fail with an error that names
// the file, without a panic and without changing a file of another program.
func TestOpenRefusesBadFiles(t *testing.T) {
	rule := Rule{Match: wamp.MatchExact, Topic: "t", Limit: 10}
	cfg := Config{Rules: map[wamp.URI][]Rule{realm: {rule}}}
	// history makes a valid history file holding a few events.
	history := func(t *testing.T, path string) {
		s := open(t, path, rule)
		appendAll(t, s, ev("t", 1, 1), ev("t", 2, 2))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// edit changes a bbolt file with fn.
	edit := func(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
	}
	ruleBucket := func(tx *bolt.Tx) *bolt.Bucket {
		return tx.Bucket(bucketRealms).Bucket([]byte(realm)).Bucket([]byte(rule.key()))
	}
	for _, tc := range []struct {
		name      string
		make      func(t *testing.T, path string)
		unchanged bool // the file is someone else's: Open must not write to it
	}{
		{"text file", func(t *testing.T, path string) {
			os.WriteFile(path, []byte("name: not a database\n"), 0o600)
		}, true},
		{"bbolt file of another program", func(t *testing.T, path string) {
			edit(t, path, func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("users"))
				if err != nil {
					return err
				}
				return b.Put([]byte("alice"), []byte("x"))
			})
		}, true},
		{"bbolt file of another program with a meta bucket", func(t *testing.T, path string) {
			edit(t, path, func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket(bucketMeta)
				if err != nil {
					return err
				}
				return b.Put([]byte("owner"), []byte("someone else"))
			})
		}, true},
		{"short key in a rule", func(t *testing.T, path string) {
			history(t, path)
			edit(t, path, func(tx *bolt.Tx) error { return ruleBucket(tx).Put([]byte("k"), []byte("v")) })
		}, false},
		{"bucket in a rule", func(t *testing.T, path string) {
			history(t, path)
			edit(t, path, func(tx *bolt.Tx) error {
				_, err := ruleBucket(tx).CreateBucket(bytes.Repeat([]byte{0xff}, 8))
				return err
			})
		}, false},
		{"realm that is not a bucket", func(t *testing.T, path string) {
			history(t, path)
			edit(t, path, func(tx *bolt.Tx) error {
				realms := tx.Bucket(bucketRealms)
				if err := realms.DeleteBucket([]byte(realm)); err != nil {
					return err
				}
				return realms.Put([]byte(realm), []byte("v"))
			})
		}, false},
		{"damaged pages", func(t *testing.T, path string) {
			history(t, path)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Keep the two meta pages, scribble over the rest.
			for i := 2 * os.Getpagesize(); i < len(b); i++ {
				b[i] = byte(i*7 + 3)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempPath(t)
			tc.make(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var s *Store
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("Open panicked: %v", p)
					}
				}()
				s, err = Open(path, cfg)
			}()
			if err == nil {
				s.Close()
				t.Fatal("Open accepted the file")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("the error does not name the file: %v", err)
			}
			t.Log(err)
			if after, _ := os.ReadFile(path); tc.unchanged && !bytes.Equal(before, after) {
				t.Error("Open changed a file that is not an event history")
			}
		})
	}
}

// TestOpenEmptyFile checks that an empty file (made by the operator to
// reserve the path) is taken as a new history.
func TestOpenEmptyFile(t *testing.T) {
	path := tempPath(t)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, path, Rule{Match: wamp.MatchExact, Topic: "t", Limit: 10})
	appendAll(t, s, ev("t", 1, 1))
	if got := pubs(query(t, s, Query{Pattern: "t"})); len(got) != 1 {
		t.Fatalf("publications %v, want [1]", got)
	}
}
