package lru

import (
	"slices"
	"testing"
)

func TestMap(t *testing.T) {
	var m Map[string, int]
	m.Put("a", 1)
	m.Put("b", 2)
	m.Put("c", 3)
	*m.Put("a", 10) += 1 // moves a to the back, changed in place
	if v, ok := m.Get("a"); !ok || *v != 11 {
		t.Fatalf("Get(a) = %v, %v", v, ok)
	}
	var keys []string
	for k := range m.All() {
		keys = append(keys, k)
	}
	if !slices.Equal(keys, []string{"b", "c", "a"}) {
		t.Fatalf("order %v, want b c a", keys)
	}
	m.Trim(2)
	if _, ok := m.Get("b"); ok || m.Len() != 2 {
		t.Fatalf("Trim(2) kept b or left %d", m.Len())
	}
	if k, v, ok := m.Oldest(); !ok || k != "c" || v != 3 {
		t.Fatalf("Oldest = %q %d %v", k, v, ok)
	}
	m.Delete("c")
	m.Delete("nothing")
	m.Trim(0) // keeps one
	if m.Len() != 1 {
		t.Fatalf("Trim(0) left %d", m.Len())
	}
	m.Delete("a")
	if _, _, ok := m.Oldest(); ok || m.Len() != 0 {
		t.Fatal("not empty")
	}
}
