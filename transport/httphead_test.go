package transport

import (
	"net"
	"net/http"
	"strings"
	"testing"
)

// readCounter counts the reads made on a connection.
type readCounter struct {
	net.Conn
	reads int
}

func (r *readCounter) Read(p []byte) (int, error) {
	r.reads++
	return r.Conn.Read(p)
}

// TestHTTPHeadInFewReads: in goroutine mode, a request head that arrives
// at once is read in a few reads, whatever its size up to the limit; the
// buffer used to grow by a byte per read past 4 KiB, so a head near the
// limit took thousands of reads, each copying the head and scanning it
// again.
func TestHTTPHeadInFewReads(t *testing.T) {
	s := &Server{Router: newRouter(t), Handler: http.NotFoundHandler()}
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/ws", "/other"} {
		client, server := net.Pipe()
		defer client.Close()
		defer server.Close()
		rc := &readCounter{Conn: server}
		c := newConn(s, rc)
		head := "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + strings.Repeat("a", 12<<10) + "\r\n\r\n"
		go client.Write([]byte(head))
		route, err := c.readHTTPHead()
		if err != nil || route != routeHandler {
			t.Fatalf("%s: route %v, %v", path, route, err)
		}
		if rc.reads > 8 {
			t.Fatalf("%s: a head of %d bytes took %d reads", path, len(head), rc.reads)
		}
	}
}
