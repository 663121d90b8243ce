package router

// NewWithHistoryHook is New with the event history's writer calling
// beforeWrite before each batch, for the tests of package router_test,
// which hold the writer back over real sockets.
func NewWithHistoryHook(cfg Config, beforeWrite func()) (*Router, error) {
	cfg.historyBeforeWrite = beforeWrite
	return New(cfg)
}
