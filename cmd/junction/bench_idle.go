package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// idleReadBuffer is the read buffer of an idle session: small, since the
// point is to hold many.
const idleReadBuffer = 1024

// idle opens -sessions sessions subscribed to -topic, measures the router's
// memory growth, checks that one event reaches every session, and holds the
// sessions for -duration.
func (b *benchRun) idle(ctx context.Context) error {
	cfg, rep := b.cfg, b.rep
	rep.Sessions = cfg.sessions

	// Only events carrying this run's marker count, so that several
	// processes can share a topic.
	marker := fmt.Sprintf("junction-bench-%d-%d", time.Now().UnixNano(), rand.Uint32())
	got := make([]atomic.Bool, cfg.sessions)
	var delivered atomic.Int64
	handler := func(i int) func(*client.Event) {
		return func(ev *client.Event) {
			if len(ev.Args) > 0 && ev.Args[0] == marker && !got[i].Swap(true) {
				delivered.Add(1)
			}
		}
	}

	var before procSample
	if rep.Router != nil {
		before, _ = sampleProcs(cfg.pids)
		rep.Router.RSSBeforeKiB = before.rssKiB
	}
	clientBefore := clientMemory()
	goroutinesBefore := runtime.NumGoroutine()
	start := time.Now()
	sessions, failed, firstErr := b.dialAll(ctx, cfg.urls, cfg.sessions, 0, idleReadBuffer, "idle",
		func(i int, s *client.Session) error {
			_, err := s.Subscribe(ctx, cfg.topic, handler(i), nil)
			return err
		})
	defer b.closeAll(sessions)
	rep.SessionsHeld = cfg.sessions - failed
	rep.DialFailures = failed
	if firstErr != nil {
		rep.FirstError = firstErr.Error()
	}
	fmt.Fprintf(b.stderr, "idle: %d sessions open in %s\n", rep.SessionsHeld, time.Since(start).Round(time.Millisecond))
	if rep.SessionsHeld == 0 {
		// The router refused them all (or none could reach it): there is
		// nothing to measure, check or hold.
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%d of %d sessions could not be opened: %s", failed, cfg.sessions, rep.FirstError)
	}
	if rep.SessionsHeld > 0 {
		rep.ClientBytesPerSession = float64(clientMemory()-clientBefore) / float64(rep.SessionsHeld)
		rep.ClientGoroutinesPerSession = float64(runtime.NumGoroutine()-goroutinesBefore) / float64(rep.SessionsHeld)
	}
	if rep.Router != nil {
		// Let the router settle (its goroutines, the GC; with TLS, the
		// ciphers and the release after the storm) before reading.
		sleepUntil(ctx, time.Now().Add(cfg.settle))
		rep.Router.SettleSeconds = cfg.settle.Seconds()
		if after, err := sampleProcs(cfg.pids); err == nil {
			rep.Router.RSSAfterKiB = after.rssKiB
			if rep.SessionsHeld > 0 {
				rep.Router.RSSPerSessionByte = float64(after.rssKiB-before.rssKiB) * 1024 / float64(rep.SessionsHeld)
			}
		}
	}

	// One event to every session.
	holdStart := time.Now()
	rep.Expected = int64(rep.SessionsHeld)
	if rep.SessionsHeld > 0 {
		if err := b.publishOnce(ctx, marker); err != nil {
			rep.Errors++
			if rep.FirstError == "" {
				rep.FirstError = err.Error()
			}
		} else {
			deadline := time.Now().Add(min(cfg.duration, 30*time.Second))
			for delivered.Load() < rep.Expected && time.Now().Before(deadline) && ctx.Err() == nil {
				sleepUntil(ctx, time.Now().Add(10*time.Millisecond))
			}
		}
	}
	rep.Delivered = delivered.Load()
	rep.Lost = rep.Expected - rep.Delivered
	rep.Published = 1

	open := func() int {
		n := 0
		for _, s := range sessions {
			if s != nil && s.Err() == nil {
				n++
			}
		}
		return n
	}
	stop := b.progress(ctx, func(el time.Duration) string {
		return fmt.Sprintf("idle: %s held, %d sessions open", el, open())
	})
	sleepUntil(ctx, holdStart.Add(cfg.duration))
	stop()
	rep.SessionsAtEnd = open()
	rep.Measured = time.Since(holdStart).Seconds()

	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case rep.SessionsHeld < cfg.sessions:
		return fmt.Errorf("%d of %d sessions could not be opened: %s", failed, cfg.sessions, rep.FirstError)
	case rep.Errors > 0:
		return fmt.Errorf("publishing the check event: %s", rep.FirstError)
	case rep.Lost > 0:
		return fmt.Errorf("%d of %d sessions did not receive the event", rep.Lost, rep.Expected)
	case rep.SessionsAtEnd < rep.SessionsHeld:
		return fmt.Errorf("%d sessions ended while held", rep.SessionsHeld-rep.SessionsAtEnd)
	}
	return nil
}

// clientMemory is this process's live heap and goroutine stacks, after a
// collection.
func clientMemory() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}

// publishOnce publishes one acknowledged event carrying marker from a
// session of its own.
func (b *benchRun) publishOnce(ctx context.Context, marker string) error {
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	pub, err := client.Dial(pctx, b.cfg.url, b.cfg.realm, b.options(b.cfg.sessions, b.cfg.url, 0))
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	defer pub.Close(pctx)
	_, err = pub.Publish(pctx, b.cfg.topic, wamp.List{marker}, nil, wamp.Dict{"acknowledge": true})
	return err
}
