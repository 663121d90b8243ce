package bridge

import (
	"math"
	"net/http"
	"testing"
	"time"
)

// TestRetryWait: the wait before a POST is tried again is the backoff,
// or what a 429 or 503 answer's Retry-After asks for when that is longer,
// up to the bound; a header that is not valid, or on another status, is
// ignored.
func TestRetryWait(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	const backoff, limit = 400 * time.Millisecond, time.Minute
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	for _, tc := range []struct {
		status     int
		retryAfter string
		wait       time.Duration
		asked      time.Duration
	}{
		{503, "", backoff, 0},
		{503, "2", 2 * time.Second, 2 * time.Second},
		{429, " 30 ", 30 * time.Second, 30 * time.Second},
		{503, "0", backoff, 0},              // never shorter than the backoff
		{503, date(-time.Hour), backoff, 0}, // a date past
		{429, date(5 * time.Second), 5 * time.Second, 5 * time.Second},
		{503, now.Add(7 * time.Second).Format(time.RFC850), 7 * time.Second, 7 * time.Second},
		{503, now.Add(8 * time.Second).Format(time.ANSIC), 8 * time.Second, 8 * time.Second},
		{503, "3600", limit, time.Hour},
		{503, date(24 * time.Hour), limit, 24 * time.Hour},
		{503, "99999999999999999999999", limit, math.MaxInt64},
		{503, now.AddDate(300, 0, 0).Format(http.TimeFormat), limit, math.MaxInt64},
		{503, "-5", backoff, 0},
		{503, "1.5", backoff, 0},
		{503, "soon", backoff, 0},
		{503, "0x10", backoff, 0},
		{500, "30", backoff, 0}, // Retry-After is read on 429 and 503 only
		{502, "30", backoff, 0},
		{408, "30", backoff, 0},
		{0, "30", backoff, 0}, // no answer
	} {
		wait, asked := retryWait(backoff, tc.status, tc.retryAfter, now, limit)
		if wait != tc.wait || asked != tc.asked {
			t.Errorf("%d with Retry-After %q: wait %v (asked %v), want %v (asked %v)", tc.status, tc.retryAfter, wait, asked, tc.wait, tc.asked)
		}
	}
}
