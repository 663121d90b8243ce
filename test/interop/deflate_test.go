package interop

import "testing"

// deflateConfig turns permessage-deflate on for the listener (--listen
// gives its address), served by engine.
func deflateConfig(engine string) string {
	return `# written by test/interop: WebSocket compression
listeners:
  - address: 127.0.0.1:0
    compression: deflate
    engine: ` + engine + "\n"
}

// TestInteropDeflate runs Autobahn|Python's suite over WebSocket offering
// permessage-deflate (client.py --deflate fails unless the router accepts
// the offer) against routers whose listener has compression: deflate, on
// each engine (auto is epoll on Linux). Autobahn then compresses every
// message it sends and reads the router's compressed ones, so all five
// scenarios, the 1 MiB messages of "large" and the 500 calls in flight of
// "concurrent" among them, run compressed both ways.
func TestInteropDeflate(t *testing.T) {
	py := pythonClient(t)
	requireClients(t, py)
	bin := routerBinary(t)
	for _, engine := range []string{"auto", "goroutine"} {
		r := startRouter(t, bin, "--config", writeFile(t, "deflate-"+engine+".yaml", deflateConfig(engine)))
		for _, ser := range []string{"json", "msgpack"} {
			cb := combo{"websocket", ser}
			name := "python/" + engine + "/" + cb.String()
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				runSuite(t, r, py, cb, scenarios, "deflate/"+name, "--deflate")
			})
		}
	}
}
