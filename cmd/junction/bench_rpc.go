package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// echo answers with the arguments it was called with, passing the raw
// payload through without encoding it again.
func echo(_ context.Context, inv *client.Invocation) (*client.Result, error) {
	return &client.Result{Raw: inv.Raw}, nil
}

// rpc runs -callers sessions with -inflight calls each against one echo
// callee.
func (b *benchRun) rpc(ctx context.Context) error {
	cfg, rep := b.cfg, b.rep
	rep.Callers, rep.Inflight = cfg.callers, cfg.inflight

	callee, _, err := b.dialAll(ctx, []string{cfg.calleeURL}, 1, 0, 0, "rpc callee", func(_ int, s *client.Session) error {
		_, err := s.Register(ctx, cfg.procedure, echo, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("callee: %w", err)
	}
	defer b.closeAll(callee)
	callers, failed, err := b.dialAll(ctx, cfg.urls, cfg.callers, 0, 0, "rpc callers", nil)
	defer b.closeAll(callers)
	if failed > 0 {
		return fmt.Errorf("%d of %d callers could not connect: %w", failed, cfg.callers, err)
	}

	args := wamp.List{payloadBytes(cfg.payload)}
	lat := newRecorder(64)
	var (
		calls atomic.Int64
		errs  errorCount
		seq   atomic.Int64 // fixed rate: the next request's slot
	)
	start := time.Now()
	measure := start.Add(cfg.warmup)
	end := measure.Add(cfg.duration)
	var interval time.Duration
	if cfg.rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.rate)
	}
	// Calls still running at the end get this long to finish.
	runCtx, cancel := context.WithDeadline(ctx, end.Add(10*time.Second))
	defer cancel()

	var cpuBefore procSample
	cpuSampled := make(chan struct{})
	go func() {
		defer close(cpuSampled)
		if rep.Router != nil && sleepUntil(runCtx, measure) {
			cpuBefore, _ = sampleProcs(cfg.pids)
		}
	}()

	var lastCalls int64
	stop := b.progress(ctx, func(el time.Duration) string {
		n := calls.Load()
		line := fmt.Sprintf("rpc: %s %d calls/s, %d errors", el, n-lastCalls, errs.n.Load())
		lastCalls = n
		if time.Now().Before(measure) {
			line += " (warmup)"
		}
		return line
	})

	var wg sync.WaitGroup
	for c, s := range callers {
		for k := range cfg.inflight {
			worker := c*cfg.inflight + k
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					var t0 time.Time
					if interval > 0 {
						t0 = start.Add(time.Duration(seq.Add(1)-1) * interval)
						if !t0.Before(end) || !sleepUntil(runCtx, t0) {
							return
						}
					} else {
						t0 = time.Now()
						if !t0.Before(end) || runCtx.Err() != nil {
							return
						}
					}
					_, err := s.Call(runCtx, cfg.procedure, args, nil, nil)
					done := time.Now()
					if t0.Before(measure) {
						continue
					}
					if err != nil {
						errs.add(err)
						continue
					}
					calls.Add(1)
					lat.record(worker, done.Sub(t0))
				}
			}()
		}
	}
	wg.Wait()
	stop()
	<-cpuSampled

	measured := min(time.Since(measure), cfg.duration)
	rep.Measured = measured.Seconds()
	rep.Calls = calls.Load()
	rep.CallsPerSec = float64(rep.Calls) / measured.Seconds()
	errs.report(rep)
	rep.Latency = lat.report()
	if rep.Router != nil && cpuBefore.rssKiB > 0 {
		rep.Router.CPUPerCallUs = rep.Router.measure(cfg.pids, cpuBefore, rep.Calls)
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case rep.Errors > 0:
		return fmt.Errorf("%d calls failed, the first with: %s", rep.Errors, rep.FirstError)
	}
	return nil
}
