package wamp

import "strings"

// URI identifies realms, topics, procedures and errors.
type URI string

// Error and close reasons defined by the specification.
const (
	ErrInvalidURI             URI = "wamp.error.invalid_uri"
	ErrNoSuchProcedure        URI = "wamp.error.no_such_procedure"
	ErrProcedureAlreadyExists URI = "wamp.error.procedure_already_exists"
	ErrNoSuchRegistration     URI = "wamp.error.no_such_registration"
	ErrNoSuchSubscription     URI = "wamp.error.no_such_subscription"
	ErrInvalidArgument        URI = "wamp.error.invalid_argument"
	ErrCanceled               URI = "wamp.error.canceled"
	ErrPayloadSizeExceeded    URI = "wamp.error.payload_size_exceeded"
	ErrProtocolViolation      URI = "wamp.error.protocol_violation"
	ErrNotAuthorized          URI = "wamp.error.not_authorized"
	ErrAuthorizationFailed    URI = "wamp.error.authorization_failed"
	ErrAuthenticationFailed   URI = "wamp.error.authentication_failed"
	ErrNoSuchRealm            URI = "wamp.error.no_such_realm"
	ErrNoSuchRole             URI = "wamp.error.no_such_role"
	ErrNoSuchSession          URI = "wamp.error.no_such_session"
	ErrOptionNotAllowed       URI = "wamp.error.option_not_allowed"
	ErrNoEligibleCallee       URI = "wamp.error.no_eligible_callee"
	ErrTimeout                URI = "wamp.error.timeout"
	ErrUnavailable            URI = "wamp.error.unavailable"
	ErrNetworkFailure         URI = "wamp.error.network_failure"
	ErrFeatureNotSupported    URI = "wamp.error.feature_not_supported"
	ErrNoAvailableCallee      URI = "wamp.error.no_available_callee"
	ErrDiscloseMeDisallowed   URI = "wamp.error.option_disallowed.disclose_me"
	ErrNoAuthMethod           URI = "wamp.error.no_auth_method"
	ErrNoSuchPrincipal        URI = "wamp.error.no_such_principal"
	// ErrLimitExceeded refuses a request that would take a session past a
	// bound of the router (its subscriptions, registrations or calls in
	// flight), or that finds a bounded queue of the router full. The
	// specification names no error for it; this one is Junction's. The
	// session goes on, and the message says which bound was hit.
	ErrLimitExceeded URI = "wamp.error.limit_exceeded"
	// ErrHistoryUnavailable answers wamp.subscription.get_events for a
	// subscription that has no history. The specification names no error
	// for it; this is Crossbar.io's.
	ErrHistoryUnavailable URI = "wamp.error.history_unavailable"
	CloseSystemShutdown   URI = "wamp.close.system_shutdown"
	CloseRealm            URI = "wamp.close.close_realm"
	CloseGoodbyeAndOut    URI = "wamp.close.goodbye_and_out"
	CloseNormal           URI = "wamp.close.normal"
	CloseKilled           URI = "wamp.close.killed"
	// CloseLogout in a client's GOODBYE makes the router forget the
	// authentication cookie of the connection (Crossbar.io's reason).
	CloseLogout URI = "wamp.close.logout"
)

// Reserved reports whether u has wamp as its first component, which the
// specification reserves for the URIs of WAMP itself (building_blocks.md):
// an application does not use it, and what the router publishes there (the
// meta events) must come from the router alone.
func Reserved(u URI) bool { return u == "wamp" || strings.HasPrefix(string(u), "wamp.") }

// ValidURI checks u against the specification's URI rules. Loose checking
// (the default) forbids empty components, whitespace and '#'; strict checking
// also limits components to lower-case letters, digits and '_'. With
// allowEmpty, empty components are allowed (pattern-based subscriptions and
// registrations of the Advanced Profile).
func ValidURI(u URI, strict, allowEmpty bool) bool {
	if len(u) == 0 {
		return false
	}
	compLen := 0
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case c == '.':
			if compLen == 0 && !allowEmpty {
				return false
			}
			compLen = 0
			continue
		case c == '#' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			return false
		case strict && !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'):
			return false
		}
		compLen++
	}
	return compLen > 0 || allowEmpty
}
