package transport

import (
	"strings"
	"testing"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// TestTLSLargeMessageThenPartial: on the epoll engine over TLS, the
// plaintext buffer a large message grew is not kept for the start of the
// next frame that came in its last record: connections that each sent a
// large message and then a byte of another, and went quiet, hold little,
// not a large message's buffer each (which no bound counts).
func TestTLSLargeMessageThenPartial(t *testing.T) {
	const conns, size = 8, 1 << 20
	ts := mode{engine: EngineEpoll, tls: true}.start(t, nil)
	warm := ts.dialRS(t, wamp.FormatJSON)
	join(t, warm)
	mem0, _ := serverMemory()
	for range conns {
		c := ts.dialRS(t, wamp.FormatJSON)
		join(t, c)
		pub := rsFrame(t, codec.JSON, &wamp.Publish{Request: 1, Options: wamp.Dict{"acknowledge": true}, Topic: "com.test.large",
			Payload: wamp.Payload{Args: wamp.List{strings.Repeat("x", size)}}})
		// The large message and, after it, 2 of the 4 header bytes of
		// the next, in one write (its last record carries both).
		if _, err := c.conn.Write(append(pub, 0, 0)); err != nil {
			t.Fatal(err)
		}
		expect[*wamp.Published](t, c)
	}
	// The loops are done with what they read once they drop the large
	// buffers; before, they never did.
	var grown int64
	eventually(t, "the large messages' buffers to be let go", func() bool {
		mem, _ := serverMemory()
		grown = mem - mem0
		return grown < conns*size/4
	})
	t.Logf("%d connections hold %d bytes more after a %d-byte message each", conns, grown, size)
}
