// Package history is the router's event store for the WAMP Advanced
// Profile's event history (pubsub_event_history.md): a bbolt file that
// keeps, per realm and per configured rule (a topic pattern with a limit of
// events and, optionally, of bytes), the most recent publications to the
// topics the rule covers, so that wamp.subscription.get_events can answer
// for them, across router restarts.
//
// # Layout
//
// The file holds a bucket "meta" with the format version and a bucket
// "realms" with one bucket per realm and, in it, one bucket per rule, named
// "<match>:<pattern>" (e.g. "prefix:com.example."). A rule bucket maps an
// 8-byte big-endian sequence number, store-wide and increasing in the order
// Append was called, to one encoded event (record.go). A publication is kept
// once, under the rule the specification's precedence picks for its topic
// (exact, then the longest prefix, then the most specific wildcard), so each
// rule's limits bound its bucket; events under several rules are merged back
// into order of arrival by their sequence numbers. A rule's MaxBytes bounds
// the bytes of its records (the values; the file adds bbolt's pages and
// keeps freed ones for reuse); an event whose record alone is larger is
// refused (ErrTooLarge, counted in Stats.TooLarge), since keeping it would
// push out every other event of the rule and then itself.
//
// Rules that are no longer configured are dropped, with their events, when
// the file is opened, and lowered limits are applied then: the file never
// holds more than the rules allow. (So a realm renamed or left out of the
// configuration for one start loses its history for good.)
//
// Open takes an empty or missing file, or one of its own format; it refuses
// with an error, and writes nothing to, any other file: another program's
// bbolt database, a file of another format version, one whose rule buckets
// hold something other than events, or one bbolt finds damaged (bbolt
// panics on some damaged pages; Open turns that into an error). When it
// creates the file it syncs the directory too, so that the file itself
// survives a crash.
//
// # Writes
//
// Append encodes the event (copying the payload, which the router may
// reuse) and queues it; one goroutine writes the queue in batches, one
// bbolt transaction (one fsync) per batch, trimming each rule to its limits
// in the same transaction (the oldest events first). The queue is bounded
// in events and in bytes: an Append that does not fit fails with
// ErrQueueFull and is counted in Stats.Dropped; nothing is dropped without
// being counted. Query first waits
// for what was appended before it to be written, so a caller sees its own
// publications. AppendDurable tells its caller, from the writer, when the
// batch holding the event has committed: the router acknowledges a
// publication to a topic with history only then.
//
// # Payloads
//
// A payload is stored as the router received it: the serializer's format
// byte and the raw Arguments and ArgumentsKw bytes. That costs one copy on
// the publishing path and no decoding; the format byte makes the record
// self-describing, and codec.DecodePayload reads it back whatever
// serializer the caller of get_events speaks. A payload built in Go
// (already decoded) is stored encoded as CBOR, and so are the event details.
package history
