package transport

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/transport/websocket"
)

// TestCloseCodes: the status code of a client's close frame is judged as
// RFC 6455 section 7.4 and the IANA registry have it, and as the
// Autobahn|Testsuite checks (cases 7.7.x and 7.9.x), on every engine: a
// code a peer may send is echoed in a clean close; one it may not
// (reserved, unassigned in 1000-2999, out of range) fails the connection
// with 1002. 1012, 1013 and 1014 (service restart, try again later, bad
// gateway) are registered and were refused as protocol errors; the router
// itself closes with 1013.
func TestCloseCodes(t *testing.T) {
	valid := []ws.StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}
	invalid := []ws.StatusCode{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		closeWith := func(code ws.StatusCode) *wsClient {
			c := ts.dialWS(t, "wamp.2.json")
			c.writeFrame(ws.OpClose, true, true, binary.BigEndian.AppendUint16(nil, uint16(code)))
			return c
		}
		for _, code := range valid {
			t.Run(fmt.Sprint(code), func(t *testing.T) {
				msgs, got := closeWith(code).closed()
				if len(msgs) != 0 || got != code && got != ws.StatusNormalClosure {
					t.Fatalf("close %d: got %+v and close %d, want the code echoed", code, msgs, got)
				}
			})
		}
		for _, code := range invalid {
			t.Run(fmt.Sprint(code), func(t *testing.T) {
				expectAbort(t, closeWith(code), "invalid status code", ws.StatusProtocolError)
			})
		}
	})
}

// mframe is a masked client frame whose first byte is b0 (FIN, RSV bits
// and opcode as they go on the wire).
func mframe(b0 byte, payload []byte) []byte {
	h := ws.Header{Fin: b0&0x80 != 0, Rsv: (b0 & 0x70) >> 4, OpCode: ws.OpCode(b0 & 0xf), Length: int64(len(payload)), Masked: true, Mask: ws.NewMask()}
	p := append([]byte(nil), payload...)
	ws.Cipher(p, h.Mask, 0)
	return append(websocket.AppendHeader(nil, h), p...)
}
