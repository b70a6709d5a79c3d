package auth

import (
	"github.com/golang-jwt/jwt/v5"

	"github.com/apistream/apistream"
)

// Claims is the JWT payload apistream reads and signs:
//
//	{"sub": "42", "apistream": {"subscribe": ["news/**"], "publish": ["news/**"]}, "exp": ..., "nbf": ..., "iat": ...}
type Claims struct {
	jwt.RegisteredClaims
	Apistream Grants `json:"apistream"`
}

// Grants are the topic patterns a token may subscribe and publish to.
type Grants struct {
	Subscribe []string `json:"subscribe,omitempty"`
	Publish   []string `json:"publish,omitempty"`
}

// validate checks every pattern with apistream.ValidatePattern. The error is EINVALID and its
// field names the bad claim, for example "apistream.subscribe".
func (g Grants) validate() error {
	for _, c := range []struct {
		claim    string
		patterns []string
	}{{"apistream.subscribe", g.Subscribe}, {"apistream.publish", g.Publish}} {
		for _, p := range c.patterns {
			if err := apistream.ValidatePattern(p); err != nil {
				return apistream.Invalidf(c.claim, "claim %s: %s", c.claim, apistream.ErrorMessage(err))
			}
		}
	}
	return nil
}
