package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// position is a place in the config file; line and column count from 1,
// and 0 means unknown.
type position struct{ line, col int }

func nodePos(n *yaml.Node) position { return position{n.Line, n.Column} }

// problem is one thing wrong with a configuration. Its text is
// "file:line:col: path: msg", leaving out the parts that are unknown.
type problem struct {
	file string
	pos  position
	path string // key path such as listeners[0].engine; empty for the file itself
	msg  string
}

func (p *problem) Error() string {
	var b strings.Builder
	if p.file != "" {
		b.WriteString(p.file)
		if p.pos.line > 0 {
			fmt.Fprintf(&b, ":%d", p.pos.line)
			if p.pos.col > 0 {
				fmt.Fprintf(&b, ":%d", p.pos.col)
			}
		}
		b.WriteString(": ")
	}
	if p.path != "" {
		b.WriteString(p.path)
		b.WriteString(": ")
	}
	b.WriteString(p.msg)
	return b.String()
}

// report collects the problems of one Parse or Validate call. During Parse
// it also records where each key path was written, so that the checks in
// validate, which see only the decoded Config, can still point at a line.
type report struct {
	file     string
	pos      map[string]position // key path -> where its value was written; nil in Validate
	failed   map[string]bool     // key paths whose value could not be decoded
	problems []*problem
}

func newReport(file string, positions bool) *report {
	r := &report{file: file, failed: make(map[string]bool)}
	if positions {
		r.pos = make(map[string]position)
	}
	return r
}

// setPos records that the value of path was written at n.
func (r *report) setPos(path string, n *yaml.Node) {
	if r.pos != nil {
		r.pos[path] = nodePos(n)
	}
}

// has reports whether path itself was written in the file.
func (r *report) has(path string) bool {
	_, ok := r.pos[path]
	return ok
}

// at returns where path was written or, for a key that was not written (a
// default, or a missing required key), where its closest written parent
// was.
func (r *report) at(path string) position {
	for {
		if p, ok := r.pos[path]; ok {
			return p
		}
		if path == "" {
			return position{}
		}
		path = parent(path)
	}
}

// ref describes where the value of path was given, for messages such as
// "is already defined at line 4": its line when known, else the path of the
// entry that holds it.
func (r *report) ref(path string) string {
	if p, ok := r.pos[path]; ok && p.line > 0 {
		return fmt.Sprintf("at line %d", p.line)
	}
	return "by " + parent(path)
}

// parent returns the key path one level up: listeners[0].tls -> listeners[0]
// -> listeners -> "".
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// add records a problem at an explicit position.
func (r *report) add(pos position, path, format string, args ...any) {
	r.problems = append(r.problems, &problem{file: r.file, pos: pos, path: path, msg: fmt.Sprintf(format, args...)})
}

// bad records a value at path (written at n) that could not be decoded.
// Later checks on path and the keys below it are skipped, so that one
// mistake is reported once.
func (r *report) bad(n *yaml.Node, path, format string, args ...any) {
	r.failed[path] = true
	r.add(nodePos(n), path, format, args...)
}

// failedWithin reports whether a problem was reported at path or at a key
// below it (bad records its problems too).
func (r *report) failedWithin(path string) bool {
	for _, p := range r.problems {
		f := p.path
		if f == path || strings.HasPrefix(f, path) && (f[len(path)] == '.' || f[len(path)] == '[') {
			return true
		}
	}
	return false
}

// skip reports whether path or one of its parents could not be decoded.
func (r *report) skip(path string) bool {
	for {
		if r.failed[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parent(path)
	}
}

// errorf records a problem with the value of path, at the place path was
// written.
func (r *report) errorf(path, format string, args ...any) {
	r.errorAt(path, path, format, args...)
}

// errorAt records a problem with the value of path, pointing at the place
// where the key path at was written.
func (r *report) errorAt(at, path, format string, args ...any) {
	if r.skip(path) {
		return
	}
	r.add(r.at(at), path, format, args...)
}

// err returns the problems in file order, joined, or nil.
func (r *report) err() error {
	if len(r.problems) == 0 {
		return nil
	}
	slices.SortStableFunc(r.problems, func(a, b *problem) int {
		return cmp.Or(cmp.Compare(a.pos.line, b.pos.line), cmp.Compare(a.pos.col, b.pos.col))
	})
	errs := make([]error, len(r.problems))
	for i, p := range r.problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}
