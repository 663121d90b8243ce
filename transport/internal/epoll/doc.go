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
// from then on every system call on that socket (read, write, shutdown,
// close, epoll_ctl) happens on that loop's goroutine and nowhere else, so a
// descriptor number is never closed while someone may still use it, and a
// stale event for a reused number is told apart by a sequence number in the
// event's data. Readiness is level-triggered, without EPOLLONESHOT: a
// socket belongs to one loop and only that loop waits on it.
//
// A loop does not block a thread in epoll_wait: its epoll descriptor is
// itself watched by Go's poller, and the loop goroutine parks there when
// it has nothing to do (a blocked system call would cost the scheduler a
// hand-off of its P and a futex wake-up each time). Work for a loop from
// other goroutines (output to write, a close) goes on its queue; the loop
// is woken through an eventfd only when it is asleep, which an atomic flag
// tells without a system call.
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
// An idle loop is woken by the first message and writes it at once: no
// message waits unless the loop is busy writing to listeners.
//
// # Timers
//
// Each loop has a hashed timer wheel with Config.Tick resolution; a
// connection has one timer ([Conn.SetTimer]), on an intrusive list, so that
// timers cost no runtime timer and no allocation. A loop sleeps in
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
package epoll
