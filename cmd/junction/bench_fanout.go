package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// fanout runs -subscribers sessions on -topic and one publisher. Each event
// carries its (intended) send time, as nanoseconds since the run's start on
// the monotonic clock, and its sequence number: [sent, seq, payload].
func (b *benchRun) fanout(ctx context.Context) error {
	cfg, rep := b.cfg, b.rep
	rep.Subscribers = cfg.subscribers

	// Send times are measured from base; events sent before measureNs are
	// warmup. The handlers read both, so base never changes and measureNs
	// is atomic.
	base := time.Now()
	var measureNs atomic.Int64
	measureNs.Store(1 << 62)

	lat := newRecorder(64)
	var delivered, received, ready, misordered atomic.Int64
	seen := make([]atomic.Bool, cfg.subscribers)
	// The last sequence number each subscriber got: one publisher's
	// events must arrive in the order published, once each.
	lastSeq := make([]atomic.Int64, cfg.subscribers)
	for i := range lastSeq {
		lastSeq[i].Store(-1)
	}
	handler := func(i int) func(*client.Event) {
		return func(ev *client.Event) {
			now := time.Since(base)
			received.Add(1)
			if !seen[i].Load() && !seen[i].Swap(true) {
				ready.Add(1)
			}
			if len(ev.Args) < 2 {
				return
			}
			if seq, ok := ev.Args[1].(int64); ok {
				// A subscription's handler runs one event at a time.
				if seq <= lastSeq[i].Load() {
					misordered.Add(1)
					return
				}
				lastSeq[i].Store(seq)
			}
			sent, ok := ev.Args[0].(int64)
			if !ok || sent < measureNs.Load() {
				return
			}
			delivered.Add(1)
			lat.record(i, now-time.Duration(sent))
		}
	}
	subs, failed, err := b.dialAll(ctx, cfg.urls, cfg.subscribers, 0, 0, "fanout subscribers", func(i int, s *client.Session) error {
		_, err := s.Subscribe(ctx, cfg.topic, handler(i), nil)
		return err
	})
	defer b.closeAll(subs)
	if failed > 0 {
		return fmt.Errorf("%d of %d subscribers could not subscribe: %w", failed, cfg.subscribers, err)
	}
	rep.Stalled = cfg.stalled
	for range cfg.stalled {
		s, err := dialStalled(ctx, cfg)
		if err != nil {
			return fmt.Errorf("stalled subscriber: %w", err)
		}
		defer s.Close()
	}
	pubs, _, err := b.dialAll(ctx, cfg.urls[:1], 1, cfg.subscribers, 0, "fanout publisher", nil)
	defer b.closeAll(pubs)
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	pub := pubs[0]
	if len(cfg.urls) > 1 {
		// On a cluster a subscription reaches the other nodes a moment
		// after its SUBSCRIBED: probe until every subscriber is reachable.
		if err := probeSubscribers(ctx, pub, cfg.topic, &ready, int64(cfg.subscribers)); err != nil {
			return err
		}
	}

	// The schedule starts now that everyone is connected.
	start := time.Now()
	measure := start.Add(cfg.warmup)
	end := measure.Add(cfg.duration)
	measureNs.Store(int64(measure.Sub(base)))
	runCtx, cancel := context.WithDeadline(ctx, end.Add(10*time.Second))
	defer cancel()

	payload := payloadBytes(cfg.payload)
	var (
		published atomic.Int64
		errs      errorCount
	)
	var lastPub, lastDel int64
	stop := b.progress(ctx, func(el time.Duration) string {
		p, d := published.Load(), delivered.Load()
		line := fmt.Sprintf("fanout: %s %d events/s published, %d/s delivered", el, p-lastPub, d-lastDel)
		lastPub, lastDel = p, d
		if time.Now().Before(measure) {
			line += " (warmup)"
		}
		return line
	})
	defer stop()

	var cpuBefore procSample
	sampled := false
	var opts wamp.Dict
	var interval time.Duration
	if cfg.rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.rate)
	} else {
		opts = wamp.Dict{"acknowledge": true}
	}
	for seq := int64(0); ; seq++ {
		var t0 time.Time
		if interval > 0 {
			t0 = start.Add(time.Duration(seq) * interval)
			if !t0.Before(end) || !sleepUntil(runCtx, t0) {
				break
			}
		} else {
			t0 = time.Now()
			if !t0.Before(end) || runCtx.Err() != nil {
				break
			}
		}
		inWindow := !t0.Before(measure)
		if inWindow && !sampled {
			sampled = true
			if rep.Router != nil {
				cpuBefore, _ = sampleProcs(cfg.pids)
			}
		}
		_, err := pub.Publish(runCtx, cfg.topic, wamp.List{int64(t0.Sub(base)), seq, payload}, nil, opts)
		if !inWindow {
			continue
		}
		if err != nil {
			errs.add(err)
			continue
		}
		published.Add(1)
	}
	measured := min(time.Since(measure), cfg.duration)

	// Wait for the deliveries in flight: until all have arrived, or nothing
	// has arrived for two seconds.
	rep.Published = published.Load()
	rep.Expected = rep.Published * int64(cfg.subscribers)
	last, lastChange := received.Load(), time.Now()
	for delivered.Load() < rep.Expected && time.Since(lastChange) < 2*time.Second && ctx.Err() == nil {
		sleepUntil(ctx, time.Now().Add(10*time.Millisecond))
		if n := received.Load(); n != last {
			last, lastChange = n, time.Now()
		}
	}
	stop()

	rep.Measured = measured.Seconds()
	rep.PublishPerSec = float64(rep.Published) / measured.Seconds()
	rep.Delivered = delivered.Load()
	// A publication whose PUBLISH failed may still have been delivered:
	// it is not expected, and more deliveries than expected are no loss.
	rep.Lost = max(rep.Expected-rep.Delivered, 0)
	rep.Misordered = misordered.Load()
	errs.report(rep)
	rep.Latency = lat.report()
	if rep.Router != nil && sampled {
		rep.Router.CPUPerEventUs = rep.Router.measure(cfg.pids, cpuBefore, rep.Delivered)
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case rep.Errors > 0:
		return fmt.Errorf("%d publications failed, the first with: %s", rep.Errors, rep.FirstError)
	case rep.Misordered > 0:
		return fmt.Errorf("%d events arrived out of the order published or twice", rep.Misordered)
	case rep.Lost > 0:
		// Lost to this load generator: none arrived for two seconds after
		// the last publication. The router's own drops are counted apart
		// (junction_events_dropped_total); an overloaded machine can stall
		// deliveries that long without any.
		return fmt.Errorf("%d of %d deliveries lost (none arrived for 2s after the last; see the router's junction_events_dropped_total for its drops)", rep.Lost, rep.Expected)
	}
	return nil
}

// probeSubscribers publishes probes (events without the schedule's
// arguments, which the handlers count as seen but not as delivered) until
// ready, the number of subscribers that have seen an event, reaches want.
func probeSubscribers(ctx context.Context, pub *client.Session, topic string, ready *atomic.Int64, want int64) error {
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for ready.Load() < want {
		if _, err := pub.Publish(pctx, topic, wamp.List{"probe"}, nil, wamp.Dict{"acknowledge": true}); err != nil {
			return fmt.Errorf("probing the subscribers: %w", err)
		}
		if !sleepUntil(pctx, time.Now().Add(20*time.Millisecond)) {
			return fmt.Errorf("only %d of %d subscribers received a probe event within 15s", ready.Load(), want)
		}
	}
	return nil
}
