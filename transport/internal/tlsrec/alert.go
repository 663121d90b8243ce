package tlsrec

import (
	"crypto/tls"
	"fmt"
)

// Alert is a TLS alert description (RFC 8446, section 6).
type Alert uint8

// The alerts a caller names.
const (
	AlertCloseNotify       Alert = 0
	AlertNoRenegotiation   Alert = 100
	alertUnexpectedMessage       = Alert(10)
	alertBadRecordMAC            = Alert(20)
	alertRecordOverflow          = Alert(22)
	alertHandshakeFailure        = Alert(40)
	alertIllegalParameter        = Alert(47)
	alertDecodeError             = Alert(50)
	alertProtocolVersion         = Alert(70)
	alertInternalError           = Alert(80)
	alertUserCanceled            = Alert(90)
)

const (
	alertLevelWarning = 1
	alertLevelError   = 2
)

// String names the alert as crypto/tls does.
func (a Alert) String() string { return tls.AlertError(a).Error() }

// AlertError is a failure that ends the connection. When Remote is false
// the record layer found the fault and Alert is what to send the peer
// (SealAlert) before closing; when Remote is true the peer sent Alert.
type AlertError struct {
	Alert  Alert
	Remote bool
	Msg    string
}

func (e *AlertError) Error() string { return "tls: " + e.Msg }

func alertf(a Alert, format string, args ...any) *AlertError {
	return &AlertError{Alert: a, Msg: fmt.Sprintf(format, args...)}
}
