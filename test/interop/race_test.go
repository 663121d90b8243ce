//go:build race

package interop

// With `go test -race` the router under test is built with -race as well, so
// that the real clients' traffic also hunts for data races in the router.
func init() { raceEnabled = true }
