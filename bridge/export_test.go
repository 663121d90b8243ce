package bridge

import "time"

// SetMaxRetryAfter lowers the bound of the wait a webhook's endpoint may
// ask for with Retry-After (60s), so that tests of the bound are quick.
func SetMaxRetryAfter(cfg *WebhookConfig, d time.Duration) { cfg.maxRetryAfter = d }
