package poller

import (
	"net/netip"
	"net/url"

	"github.com/apistream/apistream"
)

// Policy decides which addresses jobs may reach. apistream fetches URLs that other people register,
// so without it a job could read the cloud metadata service or an internal admin port (SSRF).
// A Policy must not be changed after it is handed to New.
type Policy struct {
	// DenyPrivate refuses private (RFC 1918, ULA, CGNAT) and loopback addresses.
	DenyPrivate bool
	// Allow lists prefixes that are reachable whatever the defaults say, except link-local and cloud
	// metadata addresses, which are always refused; Deny lists prefixes that are refused whatever
	// Allow says.
	Allow, Deny []netip.Prefix
}

var (
	// metadataPrefixes are always refused, even when DenyPrivate is off and whatever Allow says:
	// link-local holds the cloud metadata services (169.254.169.254, and fd00:ec2::254 on AWS), whose
	// credentials no job has any business reading.
	metadataPrefixes = prefixes("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")
	privatePrefixes  = prefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
	loopbackPrefixes = prefixes("127.0.0.0/8", "::1/128")
	// thisNetwork is 0.0.0.0/8: Linux routes a connect to 0.0.0.0 to the local host.
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	// nat64 is the well-known NAT64 prefix: its addresses stand for the IPv4 address in their last
	// 32 bits, so the policy judges that address.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func containsAny(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// CheckAddr returns an EFORBIDDEN error naming the rule when the policy refuses a. Link-local and
// metadata addresses are always refused; then an explicit Deny wins over an explicit Allow, which
// wins over the other defaults. A nil Policy applies the defaults.
func (p *Policy) CheckAddr(a netip.Addr) error {
	if e := p.check(a); e != nil {
		return e
	}
	return nil
}

// check is CheckAddr with a concrete result, so callers can amend the error.
func (p *Policy) check(a netip.Addr) *apistream.Error {
	// A zone makes Prefix.Contains always false, which would let fe80::1%eth0 through.
	a = a.WithZone("").Unmap()
	if nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:]))
	}
	if !a.IsValid() {
		return refused(a, "not a valid address")
	}
	if p == nil {
		p = &Policy{}
	}
	switch {
	case containsAny(metadataPrefixes, a):
		return refused(a, "link-local / cloud metadata")
	case containsAny(p.Deny, a):
		return refused(a, "deny list")
	case containsAny(p.Allow, a):
		return nil
	case a.IsUnspecified() || thisNetwork.Contains(a):
		return refused(a, "unspecified")
	case a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return refused(a, "multicast / broadcast")
	case p.DenyPrivate && containsAny(privatePrefixes, a):
		return refused(a, "private network")
	case p.DenyPrivate && containsAny(loopbackPrefixes, a):
		return refused(a, "loopback")
	}
	return nil
}

func refused(a netip.Addr, rule string) *apistream.Error {
	return apistream.Errorf(apistream.EFORBIDDEN, "target address %s is refused by the access policy (%s)", a, rule)
}

// CheckURL validates raw as a job URL and, when its host is a literal IP address, checks that
// address, so a plainly forbidden target is refused at registration with a clear error. Host names
// are not resolved here: the dialer checks every address it connects to.
func (p *Policy) CheckURL(raw string) error {
	if err := apistream.ValidateURL(raw); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return apistream.Invalidf("url", "url %q does not parse: %v", raw, err)
	}
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return nil // a name, resolved and checked at connect time
	}
	if e := p.check(a); e != nil {
		e.Field = "url"
		return e
	}
	return nil
}
