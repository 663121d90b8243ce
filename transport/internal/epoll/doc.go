// Package epoll is the event-driven connection engine behind package
// transport on Linux: a few event loops, each with its own epoll instance,
// serve any number of non-blocking sockets, so that a connection that says
// nothing costs no goroutine and no buffer, only its small [Conn] and the
// kernel's socket.
//
// The package knows nothing of WAMP. It moves bytes: a [Handler] (the
// transport's connection type, which embeds a Conn) is given what arrives
// and appends what to send to the connection's output under its lock.
//
// # Loops
//
// [New] starts Config.Loops loops (GOMAXPROCS by default): a bounded
// worker pool. [Engine.Add] hands a socket to the next loop, round robin;
// from then on every system call on that socket (read, shutdown, close,
// epoll_ctl, and write but for the direct writes below) happens on that
// loop's goroutine and nowhere else, and a stale event for a reused number
// is told apart by a sequence number in the event's data. Readiness is
// level-triggered, without EPOLLONESHOT: a socket belongs to one loop and
// only that loop waits on it.
//
// A descriptor number is never closed while someone may still use it:
// write(2) is made only by the goroutine that holds the connection's write
// token (taken and given back under its lock, released during the call),
// and the loop does not close the socket while another goroutine holds
// it: it marks the connection for an abort and the writer hands it back.
//
// A loop does not block a thread in epoll_wait: its epoll descriptor is
// itself watched by Go's poller, and the loop goroutine parks there when
// it has nothing to do (a blocked system call would cost the scheduler a
// hand-off of its P and a futex wake-up each time). Work for a loop from
// other goroutines (output to write, a close) goes on its queue; the loop
// is woken through an eventfd only when it is asleep, which an atomic flag
// tells without a system call, and when no other loop can do the work
// (see Direct writes).
//
// The loop's system calls on its non-blocking descriptors (read, write,
// the epoll_wait that does not wait, the eventfd) are raw: made without
// telling Go's scheduler, since they never block. A call made the
// ordinary way lets the runtime's monitor hand the goroutine's P to
// another thread when the call takes a while (a write on loopback runs the
// receiver's TCP processing too), which costs a futex wake-up and two
// context switches, and keeps the monitor polling every 20us.
//
// # Reading
//
// Each loop has one read buffer (64 KiB). A readable socket is read into
// it, and the handler is called with the bytes; it consumes every complete
// frame and says how long the rest must grow before it can go on. Only that
// incomplete rest is copied, into a per-connection buffer from pools of
// size classes (128 bytes to 64 KiB, larger ones allocated), returned to
// its pool as soon as it empties; while it exists, reads go straight into
// it, and it grows with the bytes that actually arrive (doubling, never
// beyond what the handler said it needs), not with a length a peer merely
// claims. A read that fills the buffer is followed by another, up to a few
// per readiness event for fairness (level-triggered epoll reports the
// rest); a shorter read means the socket is drained, without a read to
// EAGAIN.
//
// With Config.Batch set, the handling of the events of one wake-up is
// enclosed in its BeginBatch and EndBatch, so that the user can send on
// together what the handlers of a round gave it (package transport makes
// the router's batches of messages for other nodes of a cluster of it).
//
// # Writing and coalescing
//
// Send-side code appends frames to the connection's output under its lock
// ([Conn.Output], then [Conn.Commit]) from any goroutine; Commit puts the
// connection on its loop's queue once. The loop writes a connection's whole
// output in one write(2), releasing the lock meanwhile: new output goes to
// a second buffer, and the two take turns while the connection is busy.
// When the kernel takes only part, the rest stays and the socket is
// watched for writability (EPOLLOUT) until it is all written; then the
// buffers go back to their pool, so an idle connection holds none, and the
// next one is sized after what the last held. How much may be queued is
// the caller's business ([Conn.Queued]).
//
// When to write decides how much each write carries:
//
//   - A connection whose input the loop just handled is written at once:
//     the client that asked gets its answers and can go on.
//   - The others wait on the loop's first-in first-out queue until the loop
//     has handled the events at hand, so that a burst to one connection
//     goes out in one system call. The loop works through the queue for at
//     most a short time slice (flushBudget) before it polls for input
//     again; under load, a connection gathers what is sent to it while the
//     others are written.
//   - With Config.WriteInterval set, listeners (connections that have sent
//     nothing for that long: subscribers, say) are paced when the loop
//     writes to them more than Config.ListenerWriteRate times a second: a
//     listener written to less than the pacing interval ago waits for the
//     rest of it (or until 64 KiB are waiting), and then gets everything
//     that came meanwhile in one write. The interval doubles (from 1ms, up
//     to WriteInterval) every tenth of a second the rate is exceeded and
//     halves when it falls below half, so a wide, fast fan-out of small
//     messages turns into few large writes, on both sides of the
//     connections, while a narrow or slow one is written at once.
//
// An idle loop is woken by the first message and writes it at once, unless
// another loop is awake to write it (below): no message waits unless a
// loop is busy writing to listeners.
//
// # Direct writes
//
// A message for a connection whose loop sleeps usually comes from a
// handler on another loop (the router forwards a CALL read on one loop to
// the callee's connection on the other, and its RESULT back). Waking the
// sleeping loop for it costs an eventfd write, the woken loop's polls and
// often two context switches, on both sides of every call. Instead, when
// the connection's loop sleeps and another is awake, Commit puts the
// connection on the engine's list of orphans, and the first awake loop to
// end its round (normally the one whose handler gave the output) writes it
// itself: one write(2) for everything the round gave that connection, so
// coalescing holds as on the connection's own loop. It spends at most the
// time slice of its own queue (flushBudget) on them; the rest go to their
// own loops, woken as before. Only the plain write
// is made there; a connection that is closing, aborted, stalled (the
// kernel took only part: EPOLLOUT is its loop's to watch) or failed goes
// back to its own loop's queue. Listeners (see pacing above) are always
// written by their own loop. A loop looks at the list before it sleeps,
// and Commit wakes the connection's loop when it finds no loop awake after
// adding to the list, so an orphan is never left behind.
//
// # Timers
//
// Each loop has a hashed timer wheel with Config.Tick resolution; a
// connection has one timer ([Conn.SetTimer]), on an intrusive list, so that
// timers cost no runtime timer and no allocation. The wheel is the loop's:
// another goroutine asks the loop to call the handler's Timer, which may
// set it, with [Conn.WakeTimerLocked]. A loop sleeps in
// epoll_wait until the next tick only while it has timers.
//
// # Closing
//
// [Conn.CloseLocked] flushes what is queued, half-closes the socket
// (shutdown SHUT_WR) and waits for the peer to close its side, reading and
// handing on what still arrives; [Conn.Abort] closes at once. Each phase of
// a close is bounded by Config.CloseGrace on the wheel, so a closing
// connection needs no goroutine either. The handler's Closed is called once,
// on the loop, after the socket is closed.
//
// # Locks
//
// A connection's lock comes first: it is held while its loop's queue lock
// or the engine's orphan-list lock is taken (to schedule it), never the
// other way round; a loop takes either list lock alone.
package epoll
