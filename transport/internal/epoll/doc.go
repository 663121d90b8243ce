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
// descriptor number is never closed while someone may still use it.
// Readiness is level-triggered, without EPOLLONESHOT: a socket belongs to
// one loop and only that loop waits on it.
//
// # Reading
//
// Each loop has one read buffer (64 KiB). A readable socket is read into
// it, and the handler is called with the bytes; it consumes every complete
// frame and says how long the rest must grow before it can go on. Only that
// incomplete rest is copied, into a per-connection buffer from pools of
// size classes (512 bytes to 64 KiB, larger ones allocated), returned to
// its pool as soon as it empties; while it exists, reads go straight into
// it, and it grows with the bytes that actually arrive (doubling, never
// beyond what the handler said it needs), not with a length a peer merely
// claims. A read that fills the buffer is followed by another: the socket
// is read until it has nothing more, up to a few reads per readiness event
// for fairness (level-triggered epoll reports the rest).
//
// # Writing and coalescing
//
// Send-side code appends frames to the connection's output under its lock
// ([Conn.Output], then [Conn.Commit]) from any goroutine; Commit puts the
// connection on its loop's queue once, and wakes the loop through an
// eventfd only when it is asleep in epoll_wait (an atomic flag avoids
// redundant wake-ups). The loop writes a connection's whole output in one
// write(2) after it has handled the events at hand, so a burst of messages
// to one connection goes out in one system call, and an idle loop writes a
// single message as soon as it is woken: nothing waits for a timer.
//
// A connection whose input the loop just handled is written at once (its
// answers go out first: the client that asked can go on); every other
// connection waits its turn in the loop's first-in first-out queue, which
// the loop works through for at most a short time slice (flushBudget) before
// it polls for input again. Under load, a connection therefore gathers
// everything sent to it while the others are written, and a fan-out of
// small messages turns into few large writes, as nats-server's flushing of
// its clients' pending bytes does; without load there is nothing to wait
// for.
//
// What the kernel does not take stays in the output buffer (moved down as
// it drains) and the socket is watched for writability until it is
// empty; then the buffer goes back to its pool, so an idle connection holds
// none. How much may be queued is the caller's business ([Conn.Queued]).
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
