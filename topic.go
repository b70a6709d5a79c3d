package apistream

import (
	"strings"
)

// MaxTopicLen is the longest topic name or pattern accepted, in bytes.
const MaxTopicLen = 256

// The first segments of the topics that belong to the server. No client may publish to them, and a
// wildcard first segment never matches them (as MQTT's "$" topics), so a subscription or a grant of
// "**" does not reach the server's streams: a pattern or grant must name the prefix.
const (
	JobsSegment  = "jobs"  // jobs/{id}: a job's stream, see JobTopic
	ProxySegment = "proxy" // proxy/{name}: a proxy stream, read only through /v1/proxy
)

// ReservedTopic reports whether name (a topic or a pattern) is under a server-owned first segment.
func ReservedTopic(name string) bool {
	first := firstSegment(name)
	return first == JobsSegment || first == ProxySegment
}

func firstSegment(s string) string {
	first, _, _ := strings.Cut(s, "/")
	return first
}

// wildFirst reports whether pattern's first segment is a wildcard.
func wildFirst(pattern string) bool {
	first := firstSegment(pattern)
	return first == "*" || first == "**"
}

// ValidateTopic reports whether name is a topic events can be published to: one or more
// '/'-separated segments, none empty, no wildcard segment, printable characters only.
func ValidateTopic(name string) error {
	return validateTopic("topic", name, false)
}

// ValidatePattern reports whether pattern is a topic pattern a client can subscribe to: like a topic,
// but a segment may be '*' (exactly one segment) and the last segment may be '**' (one or more
// segments).
func ValidatePattern(pattern string) error {
	return validateTopic("topic", pattern, true)
}

func validateTopic(field, s string, wildcards bool) error {
	if s == "" {
		return Invalidf(field, "topic is empty")
	}
	if len(s) > MaxTopicLen {
		return Invalidf(field, "topic is longer than %d bytes", MaxTopicLen)
	}
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		switch {
		case seg == "":
			return Invalidf(field, "topic %q has an empty segment", s)
		case seg == "*" || seg == "**":
			if !wildcards {
				return Invalidf(field, "topic %q: wildcards are for subscribing, not publishing", s)
			}
			if seg == "**" && i != len(segs)-1 {
				return Invalidf(field, "topic %q: '**' must be the last segment", s)
			}
		case strings.Contains(seg, "*"):
			return Invalidf(field, "topic %q: '*' must be a whole segment", s)
		}
		for _, r := range seg {
			if r < 0x20 || r == 0x7f {
				return Invalidf(field, "topic %q contains a control character", s)
			}
		}
	}
	return nil
}

// IsPattern reports whether a (valid) pattern contains a wildcard segment.
func IsPattern(pattern string) bool {
	return pattern == "*" || pattern == "**" ||
		strings.HasPrefix(pattern, "*/") || strings.HasPrefix(pattern, "**/") ||
		strings.Contains(pattern, "/*/") || strings.HasSuffix(pattern, "/*") || strings.HasSuffix(pattern, "/**")
}

// MatchTopic reports whether topic matches pattern, segment by segment: '*' matches exactly one
// segment and a final '**' one or more; any other segment matches only itself, so "details/26" does
// not match "details/2665". A wildcard first segment does not match a ReservedTopic.
func MatchTopic(pattern, topic string) bool {
	if wildFirst(pattern) && ReservedTopic(topic) {
		return false
	}
	for {
		p, prest, pmore := strings.Cut(pattern, "/")
		t, trest, tmore := strings.Cut(topic, "/")
		switch {
		case p == "**" && !pmore:
			return t != ""
		case p != "*" && p != t:
			return false
		case !pmore || !tmore:
			return pmore == tmore
		}
		pattern, topic = prest, trest
	}
}

// MatchAny reports whether topic matches one of patterns.
func MatchAny(patterns []string, topic string) bool {
	for _, p := range patterns {
		if MatchTopic(p, topic) {
			return true
		}
	}
	return false
}

// Covers reports whether every topic matched by pattern is also matched by one of grants; it decides
// whether a token allowed grants may subscribe to pattern. It is exact for the patterns ValidatePattern
// accepts, reserved topics included: only a grant that names jobs/ covers a pattern under jobs/.
func Covers(grants []string, pattern string) bool {
	for _, g := range grants {
		if covers(g, pattern) {
			return true
		}
	}
	return false
}

func covers(grant, pattern string) bool {
	if wildFirst(grant) && ReservedTopic(pattern) {
		return false // the grant matches no topic under a reserved segment
	}
	for {
		g, grest, gmore := strings.Cut(grant, "/")
		p, prest, pmore := strings.Cut(pattern, "/")
		switch {
		case g == "**" && !gmore:
			return true // one or more segments; pattern has at least this one
		case p == "**" && !pmore:
			return false // pattern reaches deeper than any non-'**' grant
		case g != "*" && g != p:
			return false // a literal grant segment covers only that literal
		case !gmore || !pmore:
			return gmore == pmore
		}
		grant, pattern = grest, prest
	}
}
