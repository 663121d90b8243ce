package router

import "github.com/junction-wamp/junction/wamp"

// clientRoles is the set of roles a client announced in HELLO, kept as bits
// rather than the HELLO's dict: a session costs bytes, not kilobytes.
type clientRoles uint8

const (
	rolePublisher clientRoles = 1 << iota
	roleSubscriber
	roleCaller
	roleCallee
)

// roleIndex numbers the client roles for clientFeatures.
type roleIndex uint8

const (
	publisher roleIndex = iota
	subscriber
	caller
	callee
	numRoles
)

var roleNames = [numRoles]string{"publisher", "subscriber", "caller", "callee"}

// feature is one Advanced Profile feature a client may announce for a role
// in HELLO.Details.roles.<role>.features.
type feature uint32

const (
	featProgressiveCallResults feature = 1 << iota
	featProgressiveCallInvocations
	featCallTimeout
	featCallCanceling
	featCallerIdentification
	featCallTrustlevels
	featPatternBasedRegistration
	featSharedRegistration
	featShardedRegistration
	featRegistrationRevocation
	featPublisherIdentification
	featPublicationTrustlevels
	featPatternBasedSubscription
	featShardedSubscription
	featSubscriptionRevocation
	featPublisherExclusion
	featSubscriberBlackwhiteListing
	featEventHistory
	featPayloadPassthruMode
)

// featureNames maps the wire names to the bits; unknown names are ignored
// (a client may announce features this router does not know).
var featureNames = map[string]feature{
	"progressive_call_results":      featProgressiveCallResults,
	"progressive_call_invocations":  featProgressiveCallInvocations,
	"call_timeout":                  featCallTimeout,
	"call_canceling":                featCallCanceling,
	"caller_identification":         featCallerIdentification,
	"call_trustlevels":              featCallTrustlevels,
	"pattern_based_registration":    featPatternBasedRegistration,
	"shared_registration":           featSharedRegistration,
	"sharded_registration":          featShardedRegistration,
	"registration_revocation":       featRegistrationRevocation,
	"publisher_identification":      featPublisherIdentification,
	"publication_trustlevels":       featPublicationTrustlevels,
	"pattern_based_subscription":    featPatternBasedSubscription,
	"sharded_subscription":          featShardedSubscription,
	"subscription_revocation":       featSubscriptionRevocation,
	"publisher_exclusion":           featPublisherExclusion,
	"subscriber_blackwhite_listing": featSubscriberBlackwhiteListing,
	"event_history":                 featEventHistory,
	"payload_passthru_mode":         featPayloadPassthruMode,
}

// clientFeatures is what a client announced, per role.
type clientFeatures [numRoles]feature

// has reports whether the client announced f for role r.
func (cf *clientFeatures) has(r roleIndex, f feature) bool { return cf[r]&f != 0 }

// parseRoles reads HELLO.Details.roles; the error is for the ABORT.
func parseRoles(roles map[string]any) (clientRoles, clientFeatures, string) {
	var announced clientRoles
	var feats clientFeatures
	if len(roles) == 0 {
		return 0, feats, "HELLO.Details.roles must announce at least one role"
	}
	for role, v := range roles {
		idx := numRoles
		for i, n := range roleNames {
			if n == role {
				idx = roleIndex(i)
			}
		}
		if idx == numRoles {
			return 0, feats, "HELLO.Details.roles: \"" + role + "\" is not a client role"
		}
		announced |= 1 << idx
		d, ok := v.(map[string]any)
		if !ok {
			return 0, feats, "HELLO.Details.roles." + role + " must be a dict"
		}
		fd, _ := d["features"].(map[string]any)
		for name, on := range fd {
			if b, _ := on.(bool); b {
				feats[idx] |= featureNames[name]
			}
		}
	}
	return announced, feats, ""
}

// routerRoles builds what WELCOME announces in realm rl: the roles and only the
// features this router implements, each added once it works; the meta API's
// only where it is switched on.
func routerRoles(rl *realm) wamp.Dict {
	broker, dealer := brokerFeatures(), dealerFeatures()
	if rl.meta != nil {
		for k, v := range metaFeatures() {
			broker[k], dealer[k] = v, v
		}
	} else {
		delete(broker, "subscription_meta_api")
		delete(dealer, "registration_meta_api")
	}
	// Event history needs the meta procedure get_events and a store.
	if rl.meta != nil && rl.hist.store != nil {
		broker["event_history"] = true
	}
	return wamp.Dict{
		"broker": wamp.Dict{"features": broker},
		"dealer": wamp.Dict{"features": dealer},
	}
}
