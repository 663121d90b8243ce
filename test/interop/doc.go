// Package interop drives a real Junction router with third-party WAMP
// clients: Autobahn|Python (Debian's python3-autobahn), Autobahn|JS (npm's
// autobahn, pinned by js/package-lock.json) and wampy.js (npm's wampy,
// pinned by wampy/package-lock.json), over WebSocket and RawSocket (wampy:
// WebSocket only) with the JSON, MessagePack and CBOR serializers; wampy
// also from its browser build in headless Chromium.
//
// The package holds no library code; `go test ./test/interop/` builds
// cmd/junction, starts it on a free loopback port and runs the client
// scripts in python/, js/ and wampy/ against it. See README.md.
package interop
