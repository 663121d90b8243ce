// Command memspike measures what clients that send most of a large
// WebSocket frame and stop make a running router hold: the router's RSS
// before, while the connections hold their partial frames, and after they
// close. It is a measurement, not a test (see issue #10, "Unauthenticated
// memory"):
//
//	go build -o /tmp/junction ./cmd/junction
//	/tmp/junction serve --listen 127.0.0.1:8088 &
//	go run ./scripts/memspike -addr 127.0.0.1:8088 -pid $! -conns 100
//
// Each connection upgrades to WebSocket (wamp.2.json), says HELLO first
// with -join, then sends the header of a -announce byte text frame and
// -send bytes of it, and waits. The router may close it (a limit) or keep
// it; memspike reports which.
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "router address")
	pid := flag.Int("pid", 0, "router process id, for its RSS")
	conns := flag.Int("conns", 100, "connections")
	announce := flag.Int("announce", 16<<20, "frame length announced")
	send := flag.Int("send", 8<<20, "bytes of the frame sent")
	join := flag.Bool("join", false, "say HELLO (and read WELCOME) first")
	hold := flag.Duration("hold", 3*time.Second, "how long the connections stay after sending")
	after := flag.String("after", "1s,5s,30s", "RSS samples after the connections closed")
	flag.Parse()
	if *pid == 0 {
		log.Fatal("-pid is required")
	}

	fmt.Printf("RSS before: %s\n", rss(*pid))
	var (
		wg               sync.WaitGroup
		refused, stalled atomic.Int64
		mu               sync.Mutex
		open             []net.Conn
		closes           = map[string]int{}
	)
	payload := bytes.Repeat([]byte{' '}, 64<<10)
	for range *conns {
		wg.Go(func() {
			c, err := dial(*addr, *join)
			if err != nil {
				log.Printf("dial: %v", err)
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			hdr := []byte{0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
			binary.BigEndian.PutUint64(hdr[2:10], uint64(*announce))
			if _, err := c.Write(hdr); err != nil {
				refused.Add(1)
				return
			}
			for n := 0; n < *send; n += len(payload) {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(payload[:min(len(payload), *send-n)]); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						stalled.Add(1)
					} else {
						refused.Add(1)
					}
					break
				}
			}
			// What did the router say? Read a close frame, if any.
			c.SetReadDeadline(time.Now().Add(*hold))
			reason := closeReason(c)
			mu.Lock()
			closes[reason]++
			mu.Unlock()
		})
	}
	wg.Wait()
	fmt.Printf("RSS with %d connections holding (up to) %d of %d bytes each: %s\n", *conns, *send, *announce, rss(*pid))
	fmt.Printf("  writes refused (connection closed by the router): %d, stalled: %d\n", refused.Load(), stalled.Load())
	for r, n := range closes {
		fmt.Printf("  %d connections: %s\n", n, r)
	}
	for _, c := range open {
		c.Close()
	}
	start := time.Now()
	for _, s := range strings.Split(*after, ",") {
		d, err := time.ParseDuration(s)
		if err != nil {
			log.Fatal(err)
		}
		time.Sleep(time.Until(start.Add(d)))
		fmt.Printf("RSS %s after they closed: %s\n", d, rss(*pid))
	}
}

// dial opens a WebSocket connection and, with join, says HELLO.
func dial(addr string, join bool) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n",
		addr, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("reading the upgrade response: %w", err)
		}
		if line == "\r\n" {
			break
		}
	}
	if !join {
		return c, nil
	}
	hello := []byte(`[1,"realm1",{"roles":{"subscriber":{}}}]`)
	frame := append([]byte{0x81, 0x80 | byte(len(hello)), 0, 0, 0, 0}, hello...)
	if _, err := c.Write(frame); err != nil {
		return nil, err
	}
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, fmt.Errorf("reading WELCOME: %w", err)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var l [2]byte
		io.ReadFull(br, l[:])
		n = int(binary.BigEndian.Uint16(l[:]))
	}
	if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
		return nil, fmt.Errorf("reading WELCOME: %w", err)
	}
	return c, nil
}

// closeReason reads until a close frame or the end of the connection and
// says what it was.
func closeReason(c net.Conn) string {
	br := bufio.NewReader(c)
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return "still open"
			}
			return "closed without a close frame: " + err.Error()
		}
		n := int64(h[1] & 0x7f)
		switch n {
		case 126:
			var l [2]byte
			io.ReadFull(br, l[:])
			n = int64(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			io.ReadFull(br, l[:])
			n = int64(binary.BigEndian.Uint64(l[:]))
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return "closed: " + err.Error()
		}
		if h[0]&0x0f == 0x8 && len(p) >= 2 {
			return fmt.Sprintf("close %d %q", binary.BigEndian.Uint16(p), p[2:])
		}
	}
}

// rss returns the resident set size of process pid.
func rss(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
