package wamp

import (
	"sync"
	"testing"
)

func TestValidURI(t *testing.T) {
	tests := []struct {
		uri                  URI
		loose, strict, empty bool // results for (loose), (strict), (loose, allowEmpty)
	}{
		{"com.example.add", true, true, true},
		{"com.example.add_2", true, true, true},
		{"wamp.error.no_such_procedure", true, true, true},
		{"a", true, true, true},
		{"Com.Example", true, false, true},
		{"com.example-app.add", true, false, true},
		{"com.ex$ample.ünïcode", true, false, true},
		{"", false, false, false},
		{".", false, false, true},
		{"..", false, false, true},
		{"com..add", false, false, true},
		{".com.add", false, false, true},
		{"com.add.", false, false, true},
		{"com.example.", false, false, true},
		{"com.#.add", false, false, false},
		{"com.ex#.add", false, false, false},
		{"com.ex ample", false, false, false},
		{"com.ex\tample", false, false, false},
		{"com.ex\nample", false, false, false},
		{"com.ex\rample", false, false, false},
		{"com.ex\vample", false, false, false},
		{"com.ex\fample", false, false, false},
		{"com..#", false, false, false},
	}
	for _, tt := range tests {
		if got := ValidURI(tt.uri, false, false); got != tt.loose {
			t.Errorf("ValidURI(%q, loose) = %v, want %v", tt.uri, got, tt.loose)
		}
		if got := ValidURI(tt.uri, true, false); got != tt.strict {
			t.Errorf("ValidURI(%q, strict) = %v, want %v", tt.uri, got, tt.strict)
		}
		if got := ValidURI(tt.uri, false, true); got != tt.empty {
			t.Errorf("ValidURI(%q, loose, allowEmpty) = %v, want %v", tt.uri, got, tt.empty)
		}
		// Strict with empty components: strict characters, any component empty.
		wantStrictEmpty := tt.empty && strictChars(tt.uri)
		if got := ValidURI(tt.uri, true, true); got != wantStrictEmpty {
			t.Errorf("ValidURI(%q, strict, allowEmpty) = %v, want %v", tt.uri, got, wantStrictEmpty)
		}
	}
}

func strictChars(u URI) bool {
	for _, c := range []byte(u) {
		if !(c == '.' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func TestSequence(t *testing.T) {
	var s Sequence
	if s.Last() != 0 {
		t.Fatalf("Last of a new Sequence = %d, want 0", s.Last())
	}
	for want := ID(1); want <= 3; want++ {
		if got := s.Next(); got != want {
			t.Fatalf("Next = %d, want %d", got, want)
		}
	}
	if s.Last() != 3 {
		t.Fatalf("Last = %d, want 3", s.Last())
	}
}

func TestSequenceWraps(t *testing.T) {
	var s Sequence
	s.n.Store(uint64(MaxID) - 1)
	if got := s.Next(); got != MaxID {
		t.Fatalf("Next = %d, want 2^53", got)
	}
	if got := s.Next(); got != 1 {
		t.Fatalf("Next after 2^53 = %d, want 1", got)
	}
}

func TestSequenceConcurrent(t *testing.T) {
	const goroutines, each = 8, 2000
	var (
		s    Sequence
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = make(map[ID]bool, goroutines*each)
	)
	for range goroutines {
		wg.Go(func() {
			ids := make([]ID, each)
			for i := range ids {
				ids[i] = s.Next()
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				if seen[id] {
					t.Errorf("ID %d handed out twice", id)
				}
				seen[id] = true
			}
		})
	}
	wg.Wait()
	if len(seen) != goroutines*each {
		t.Fatalf("%d distinct IDs, want %d", len(seen), goroutines*each)
	}
	for id := ID(1); id <= goroutines*each; id++ {
		if !seen[id] {
			t.Fatalf("ID %d never handed out", id)
		}
	}
}

func TestGlobalID(t *testing.T) {
	for range 100000 {
		if id := GlobalID(); id < 1 || id > MaxID {
			t.Fatalf("GlobalID() = %d, outside [1, 2^53]", id)
		}
	}
	// Random IDs should not collide in a small sample.
	seen := make(map[ID]bool)
	for range 1000 {
		id := GlobalID()
		if seen[id] {
			t.Fatalf("GlobalID() repeated %d in 1000 draws", id)
		}
		seen[id] = true
	}
}

func TestMessageTypeString(t *testing.T) {
	tests := []struct {
		t     MessageType
		name  string
		known bool
	}{
		{TypeHello, "HELLO", true},
		{TypeCall, "CALL", true},
		{TypeYield, "YIELD", true},
		{0, "MessageType(0)", false},
		{7, "MessageType(7)", false},
		{71, "MessageType(71)", false},
		{255, "MessageType(255)", false},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.name {
			t.Errorf("MessageType(%d).String() = %q, want %q", tt.t, got, tt.name)
		}
		if got := tt.t.Known(); got != tt.known {
			t.Errorf("MessageType(%d).Known() = %v, want %v", tt.t, got, tt.known)
		}
	}
}

func TestPayload(t *testing.T) {
	tests := []struct {
		name  string
		p     Payload
		empty bool
		size  int
	}{
		{"zero", Payload{}, true, 0},
		{"empty lists", Payload{Args: List{}, Kwargs: Dict{}}, true, 0},
		{"args", Payload{Args: List{1}}, false, 0},
		{"kwargs", Payload{Kwargs: Dict{"a": 1}}, false, 0},
		{"raw args", Payload{Format: FormatJSON, RawArgs: []byte("[1]")}, false, 3},
		{"raw empty args", Payload{Format: FormatJSON, RawArgs: []byte("[]")}, false, 2},
		{"raw kwargs", Payload{Format: FormatCBOR, RawKwargs: []byte{0xa0}}, false, 1},
		{"raw none", Payload{Format: FormatMsgPack}, true, 0},
	}
	for _, tt := range tests {
		if got := tt.p.Empty(); got != tt.empty {
			t.Errorf("%s: Empty() = %v, want %v", tt.name, got, tt.empty)
		}
		if got := tt.p.Size(); got != tt.size {
			t.Errorf("%s: Size() = %d, want %d", tt.name, got, tt.size)
		}
	}
}

func TestShared(t *testing.T) {
	ev := &Event{Subscription: 1, Publication: 2}
	s := NewShared(ev)
	if Unwrap(s) != Message(ev) || Unwrap(ev) != Message(ev) {
		t.Fatal("Unwrap does not return the wrapped message")
	}
	if s.Type() != TypeEvent {
		t.Fatalf("Shared.Type() = %s, want EVENT", s.Type())
	}
	if s.Encoded(FormatJSON) != nil {
		t.Fatal("a new Shared has an encoding")
	}
	b := []byte("[36,1,2,{}]")
	s.SetEncoded(FormatJSON, b)
	if got := s.Encoded(FormatJSON); &got[0] != &b[0] {
		t.Fatal("Encoded does not return the stored bytes")
	}
	if s.Encoded(FormatCBOR) != nil {
		t.Fatal("an encoding for one format shows for another")
	}
	s.SetEncoded(NumFormats, b) // out of range: ignored, not a panic
	if s.Encoded(NumFormats) != nil || s.Encoded(255) != nil {
		t.Fatal("an encoding for an unknown format")
	}
}

func TestOptionHelpers(t *testing.T) {
	d := Dict{"yes": true, "name": "x", "num": 1}
	if !Bool(d, "yes", false) || Bool(d, "missing", false) || !Bool(d, "num", true) {
		t.Error("Bool")
	}
	if String(d, "name") != "x" || String(d, "num") != "" || String(nil, "name") != "" {
		t.Error("String")
	}
}
