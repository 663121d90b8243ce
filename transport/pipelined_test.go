package transport

import (
	"bytes"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/transport/websocket"
)

// TestFrameRightBehindUpgrade: a client that sends its HELLO in the same
// write as its upgrade request (RFC 6455 says it must wait for the
// response; some do not) is served alike on both engines: the frame is
// read as the connection's first, not lost in the upgrade's buffer (the
// goroutine mode used to drop it and end the session for a HELLO that
// never came).
func TestFrameRightBehindUpgrade(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		conn := ts.dial(t)
		req := "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
		hello := []byte(`[1,"realm1",{"roles":{"publisher":{}}}]`)
		h := ws.Header{Fin: true, OpCode: ws.OpText, Length: int64(len(hello)), Masked: true, Mask: ws.NewMask()}
		ws.Cipher(hello, h.Mask, 0)
		if _, err := conn.Write(append([]byte(req), append(websocket.AppendHeader(nil, h), hello...)...)); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(ioTimeout))
		var got []byte
		buf := make([]byte, 4096)
		for {
			i := bytes.Index(got, []byte("\r\n\r\n"))
			if i >= 0 && bytes.Contains(got[i+4:], []byte("[2,")) {
				return // WELCOME
			}
			n, err := conn.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				t.Fatalf("%s: no WELCOME for a HELLO right behind the upgrade request: %q (%v)", m, got, err)
			}
		}
	})
}
