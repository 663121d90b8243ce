package auth

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// waitStats waits until the limiter's counters satisfy cond: the checks
// started by the test's goroutines have reached the queue.
func waitStats(t *testing.T, l *KDFLimiter, what string, cond func(KDFStats) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for st := l.Stats(); !cond(st); st = l.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %+v", what, st)
		}
		time.Sleep(time.Millisecond)
	}
}

// holder takes a slot for a check from host on a goroutine of its own, says
// when it has it, and gives it back when told to.
type holder struct {
	name    string
	got     chan string
	release chan struct{}
	err     chan error
}

func hold(l *KDFLimiter, ctx context.Context, host, name string, got chan string) *holder {
	h := &holder{name: name, got: got, release: make(chan struct{}), err: make(chan error, 1)}
	go func() {
		a, err := l.acquire(ctx, host)
		h.err <- err
		if err != nil {
			return
		}
		got <- name
		<-h.release
		l.release(a)
	}()
	return h
}

// TestKDFLimiterTakesTurns: with one slot, a flooding address with checks
// queued does not make a newcomer wait for them all: the addresses take
// the free slot in turn.
func TestKDFLimiterTakesTurns(t *testing.T) {
	l := NewKDFLimiter(KDFLimits{Concurrent: 1, PerAddress: 8})
	ctx := context.Background()
	got := make(chan string, 10)
	holders := map[string]*holder{}
	start := func(host, name string, waiting int) {
		holders[name] = hold(l, ctx, host, name, got)
		waitStats(t, l, name+" queued", func(st KDFStats) bool { return st.Running == 1 && st.Waiting == waiting })
	}
	first := hold(l, ctx, "10.0.0.1", "flood-0", got)
	if name := <-got; name != "flood-0" {
		t.Fatalf("%s got the free slot", name)
	}
	holders["flood-0"] = first
	start("10.0.0.1", "flood-1", 1)
	start("10.0.0.1", "flood-2", 2)
	start("10.0.0.1", "flood-3", 3)
	start("10.0.0.2", "good", 4)
	start("10.0.0.3", "other", 5)
	// flood-0 computing; in turn: the flood (first to wait), good, other,
	// then the flood's remaining checks.
	next := "flood-0"
	for _, want := range []string{"flood-1", "good", "other", "flood-2", "flood-3"} {
		close(holders[next].release)
		if name := <-got; name != want {
			t.Fatalf("after %s: %s got the slot, want %s", next, name, want)
		}
		next = want
	}
	close(holders[next].release)
	waitStats(t, l, "all done", func(st KDFStats) bool { return st.Running == 0 && st.Waiting == 0 })
	l.mu.Lock()
	left := len(l.addrs)
	l.mu.Unlock()
	if left != 0 {
		t.Errorf("%d addresses remembered after their checks ended", left)
	}
}

// TestKDFLimiterPerAddress: an address with PerAddress checks in flight
// (running or waiting) has its next one refused at once, unhashed; other
// addresses are not.
func TestKDFLimiterPerAddress(t *testing.T) {
	l := NewKDFLimiter(KDFLimits{Concurrent: 1, PerAddress: 2})
	ctx := context.Background()
	got := make(chan string, 10)
	a := hold(l, ctx, "10.0.0.1", "a", got)
	<-got
	b := hold(l, ctx, "10.0.0.1", "b", got)
	waitStats(t, l, "b queued", func(st KDFStats) bool { return st.Waiting == 1 })

	h, _ := NewPasswordHash("pw", "pbkdf2-sha256", 1000, 0)
	ok, err := l.Verify(ctx, "10.0.0.1:4444", h, "pw")
	var f *Failure
	if ok || !errors.As(err, &f) || f.Reason != wamp.ErrAuthenticationFailed || f.Message != msgKDFBusy {
		t.Fatalf("third check of 10.0.0.1: %v, %v; want refused", ok, err)
	}
	if st := l.Stats(); st.Refused != 1 || st.Computed != 0 {
		t.Errorf("after a refusal: %+v", st)
	}
	c := hold(l, ctx, "10.0.0.2", "c", got)
	waitStats(t, l, "c queued", func(st KDFStats) bool { return st.Waiting == 2 })
	for _, h := range []*holder{a, b, c} {
		if err := <-h.err; err != nil {
			t.Fatalf("%s: %v", h.name, err)
		}
		close(h.release)
		if h != c {
			<-got
		}
	}
	waitStats(t, l, "all done", func(st KDFStats) bool { return st.Running == 0 && st.Waiting == 0 })
	// Its checks over, the address may check again.
	if ok, err := l.Verify(ctx, "10.0.0.1:4444", h, "pw"); !ok || err != nil {
		t.Errorf("10.0.0.1 after its checks ended: %v, %v", ok, err)
	}
}

// TestKDFLimiterAbandons: a check whose context ends while it waits leaves
// the queue unhashed, and one whose context has ended already is not
// started; neither keeps a slot or a place of its address.
func TestKDFLimiterAbandons(t *testing.T) {
	l := NewKDFLimiter(KDFLimits{Concurrent: 1, PerAddress: 2})
	got := make(chan string, 10)
	a := hold(l, context.Background(), "10.0.0.1", "a", got)
	<-got
	ctx, cancel := context.WithCancel(context.Background())
	b := hold(l, ctx, "10.0.0.1", "b", got)
	waitStats(t, l, "b queued", func(st KDFStats) bool { return st.Waiting == 1 })
	cancel()
	if err := <-b.err; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting check whose context ended: %v", err)
	}
	h, _ := NewPasswordHash("pw", "pbkdf2-sha256", 1000, 0)
	if ok, err := l.Verify(ctx, "10.0.0.2:1", h, "pw"); ok || !errors.Is(err, context.Canceled) {
		t.Fatalf("check with its context ended: %v, %v", ok, err)
	}
	if st := l.Stats(); st.Abandoned != 2 || st.Computed != 0 || st.Waiting != 0 || st.Running != 1 {
		t.Errorf("after two abandoned checks: %+v", st)
	}
	// b's place is free: 10.0.0.1 may queue another (PerAddress 2), which
	// gets the slot when a gives it back.
	c := hold(l, context.Background(), "10.0.0.1", "c", got)
	waitStats(t, l, "c queued", func(st KDFStats) bool { return st.Waiting == 1 })
	close(a.release)
	if name := <-got; name != "c" {
		t.Fatalf("%s got the slot", name)
	}
	close(c.release)
	waitStats(t, l, "all done", func(st KDFStats) bool { return st.Running == 0 && st.Waiting == 0 })
}

// TestKDFLimiterVerify: the limiter checks passwords as the hash does,
// and counts the hashes.
func TestKDFLimiterVerify(t *testing.T) {
	h, err := NewPasswordHash("pw", "argon2id", 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []*KDFLimiter{NewKDFLimiter(KDFLimits{}), nil} {
		for _, c := range []struct {
			pw   string
			want bool
		}{{"pw", true}, {"pW", false}, {"", false}} {
			if ok, err := l.Verify(context.Background(), "[::1]:80", h, c.pw); ok != c.want || err != nil {
				t.Errorf("%v: Verify(%q) = %v, %v", l != nil, c.pw, ok, err)
			}
		}
	}
	if st := NewKDFLimiter(KDFLimits{}).Stats(); st != (KDFStats{}) {
		t.Errorf("new limiter: %+v", st)
	}
}

// TestKDFLimiterStress: many checks from a few addresses, some of whose
// contexts end at any moment: the bound on hashes at once holds, and in
// the end every check is counted once and nothing is left behind.
func TestKDFLimiterStress(t *testing.T) {
	const concurrent, perAddress, checks = 3, 4, 2000
	l := NewKDFLimiter(KDFLimits{Concurrent: concurrent, PerAddress: perAddress})
	var running, most atomic.Int64
	var wg sync.WaitGroup
	for i := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if rand.IntN(3) == 0 {
				go cancel()
			}
			a, err := l.acquire(ctx, fmt.Sprintf("10.0.0.%d", i%5))
			if err != nil {
				return
			}
			n := running.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			l.computed.Add(1)
			running.Add(-1)
			l.release(a)
		})
	}
	wg.Wait()
	st := l.Stats()
	if most.Load() > concurrent {
		t.Errorf("%d hashes at once, want at most %d", most.Load(), concurrent)
	}
	if st.Computed+st.Abandoned+st.Refused != checks || st.Running != 0 || st.Waiting != 0 {
		t.Errorf("%d checks: %+v", checks, st)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.addrs) != 0 || l.turns.Len() != 0 || l.running != 0 {
		t.Errorf("left behind: %d addresses, %d turns, %d running", len(l.addrs), l.turns.Len(), l.running)
	}
}

// TestThrottleLinesForgetAddresses: logins that wait for their turn and
// give up, or end, leave nothing of their address behind, and a login
// that gives up hands nothing on.
func TestThrottleLinesForgetAddresses(t *testing.T) {
	th := &Throttle{InFlight: 1}
	a, err := th.Enter("10.0.0.1:1")
	if err != nil || !a.Now() {
		t.Fatalf("first login: %v, now %v", err, a.Now())
	}
	b, _ := th.Enter("10.0.0.1:2")
	c, _ := th.Enter("10.0.0.1:3")
	if b.Now() || c.Now() {
		t.Fatal("logins past InFlight go ahead at once")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with its context ended: %v", err)
	}
	a.Done()
	a.Done() // once only
	if err := c.Wait(context.Background()); err != nil {
		t.Fatalf("c after a: %v", err)
	}
	c.Done()
	th.mu.Lock()
	defer th.mu.Unlock()
	if len(th.lines) != 0 {
		t.Errorf("%d addresses left behind", len(th.lines))
	}
}

// TestThrottleLoginTimedOutInLine: a login whose deadline passes while it
// waits for its turn gets ErrLoginTimedOut (counted, and Unchecked: not
// a failure), one whose connection ends just its context's error, and
// neither holds up the line.
func TestThrottleLoginTimedOutInLine(t *testing.T) {
	th := &Throttle{InFlight: 1}
	a, _ := th.Enter("10.0.0.1:1")
	b, _ := th.Enter("10.0.0.1:2")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := b.Wait(ctx)
	if !errors.Is(err, ErrLoginTimedOut) || !errors.Is(err, context.DeadlineExceeded) || !Unchecked(err) {
		t.Fatalf("wait past its deadline: %v, want ErrLoginTimedOut", err)
	}
	if f := AsFailure(err); f != ErrLoginTimedOut {
		t.Errorf("its failure %+v, want ErrLoginTimedOut", f)
	}
	if n := th.TimedOut(); n != 1 {
		t.Errorf("TimedOut() = %d, want 1", n)
	}
	if Unchecked(errors.New("wrong ticket")) || Unchecked(context.Canceled) {
		t.Error("Unchecked says yes to a checked failure")
	}
	c, _ := th.Enter("10.0.0.1:3")
	a.Done()
	if err := c.Wait(context.Background()); err != nil {
		t.Fatalf("the next login after a: %v", err)
	}
	c.Done()
}
