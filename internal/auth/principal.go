package auth

import (
	"time"

	"github.com/apistream/apistream"
)

// Principal is who sent a request and what they may do.
type Principal struct {
	Admin     bool      // the API token, or open mode
	Subject   string    // JWT "sub"
	Subscribe []string  // patterns from claims (apistream.subscribe); AnonymousSubscribe when anonymous
	Publish   []string  // patterns from claims (apistream.publish)
	Anonymous bool      // no token was sent
	ExpiresAt time.Time // the token's expiry, zero when none: a stream should end then
}

// CanSubscribe reports whether p may subscribe to pattern, which the caller has already checked
// with apistream.ValidatePattern. Every topic pattern matches must be covered by p's grants, so a
// grant of "news/*" does not allow "news/**".
func (p *Principal) CanSubscribe(pattern string) error {
	switch {
	case p == nil:
		return apistream.Errorf(apistream.EUNAUTHORIZED, "subscribing to %q needs a token", pattern)
	case p.Admin || apistream.Covers(p.Subscribe, pattern):
		return nil
	case p.Anonymous:
		return apistream.Errorf(apistream.EUNAUTHORIZED, "subscribing to %q needs a token", pattern)
	}
	return apistream.Errorf(apistream.EFORBIDDEN, "token does not allow subscribing to %q", pattern)
}

// CanPublish reports whether p may publish to topic. Publishing always needs a token, and no one
// publishes to the server's own topics (apistream.ReservedTopic), not even the admin: only the
// server writes job and proxy streams.
func (p *Principal) CanPublish(topic string) error {
	switch {
	case p == nil || p.Anonymous && !p.Admin:
		return apistream.Errorf(apistream.EUNAUTHORIZED, "publishing needs a token")
	case apistream.ReservedTopic(topic):
		return apistream.Errorf(apistream.EFORBIDDEN, "topic %q belongs to the server's job and proxy streams: no client may publish to it", topic)
	case p.Admin || apistream.MatchAny(p.Publish, topic):
		return nil
	}
	return apistream.Errorf(apistream.EFORBIDDEN, "token does not allow publishing to %q", topic)
}

// CanAdmin reports whether p may administer the hub, which needs the API token.
func (p *Principal) CanAdmin() error {
	switch {
	case p == nil || p.Anonymous && !p.Admin:
		return apistream.Errorf(apistream.EUNAUTHORIZED, "this needs the API token")
	case p.Admin:
		return nil
	}
	return apistream.Errorf(apistream.EFORBIDDEN, "this needs the API token, not a subscriber token")
}
