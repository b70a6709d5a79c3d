package poller_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/poller"
)

func TestPolicy_CheckAddr(t *testing.T) {
	var (
		open        = &poller.Policy{}
		denyPrivate = &poller.Policy{DenyPrivate: true}
		allowMeta   = &poller.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}}
		allowAll    = &poller.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}}
		allowTen    = &poller.Policy{DenyPrivate: true, Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
		denyGoogle  = &poller.Policy{
			Allow: []netip.Prefix{netip.MustParsePrefix("8.8.8.8/32")},
			Deny:  []netip.Prefix{netip.MustParsePrefix("8.8.8.0/24"), netip.MustParsePrefix("2001:db8::/32")},
		}
	)
	for _, tt := range []struct {
		policy *poller.Policy
		addr   string
		rule   string // "" when allowed
	}{
		{nil, "169.254.169.254", "link-local / cloud metadata"},
		{open, "169.254.169.254", "link-local / cloud metadata"},
		{open, "169.254.1.1", "link-local / cloud metadata"},
		{open, "::ffff:169.254.169.254", "link-local / cloud metadata"},
		{open, "64:ff9b::a9fe:a9fe", "link-local / cloud metadata"},
		{open, "fe80::1", "link-local / cloud metadata"},
		{open, "fe80::1%eth0", "link-local / cloud metadata"},
		{open, "fd00:ec2::254", "link-local / cloud metadata"},
		{open, "fd00:ec2::253", ""},
		{open, "0.0.0.0", "unspecified"},
		{open, "0.1.2.3", "unspecified"},
		{open, "::", "unspecified"},
		{open, "224.0.0.1", "multicast / broadcast"},
		{open, "ff02::1", "multicast / broadcast"},
		{open, "255.255.255.255", "multicast / broadcast"},
		{open, "10.1.2.3", ""},
		{open, "127.0.0.1", ""},
		{open, "::1", ""},
		{open, "8.8.8.8", ""},
		{denyPrivate, "10.1.2.3", "private network"},
		{denyPrivate, "172.16.5.4", "private network"},
		{denyPrivate, "172.32.0.1", ""},
		{denyPrivate, "192.168.1.1", "private network"},
		{denyPrivate, "100.64.0.1", "private network"},
		{denyPrivate, "fc00::1", "private network"},
		{denyPrivate, "::ffff:10.0.0.1", "private network"},
		{denyPrivate, "127.0.0.1", "loopback"},
		{denyPrivate, "127.9.9.9", "loopback"},
		{denyPrivate, "::1", "loopback"},
		{denyPrivate, "::ffff:127.0.0.1", "loopback"},
		{denyPrivate, "8.8.8.8", ""},
		{denyPrivate, "2001:4860:4860::8888", ""},
		{denyPrivate, "169.254.169.254", "link-local / cloud metadata"},
		// The metadata and link-local ranges are refused whatever Allow says.
		{allowMeta, "169.254.169.254", "link-local / cloud metadata"},
		{allowMeta, "169.254.169.253", "link-local / cloud metadata"},
		{allowAll, "169.254.169.254", "link-local / cloud metadata"},
		{allowAll, "::ffff:169.254.169.254", "link-local / cloud metadata"},
		{allowAll, "fe80::1", "link-local / cloud metadata"},
		{allowAll, "fd00:ec2::254", "link-local / cloud metadata"},
		{allowAll, "8.8.8.8", ""},
		{allowTen, "10.1.1.1", ""},
		{allowTen, "192.168.1.1", "private network"},
		{denyGoogle, "8.8.8.8", "deny list"},
		{denyGoogle, "8.8.4.4", ""},
		{denyGoogle, "2001:db8::1", "deny list"},
	} {
		name := tt.addr
		if tt.policy != nil {
			name += "/" + policyName(tt.policy)
		}
		t.Run(name, func(t *testing.T) {
			err := tt.policy.CheckAddr(netip.MustParseAddr(tt.addr))
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("got %v, want allowed", err)
				}
				return
			}
			if got, want := apistream.ErrorCode(err), apistream.EFORBIDDEN; got != want {
				t.Fatalf("code: got %q, want %q (err %v)", got, want, err)
			}
			if got, want := apistream.ErrorMessage(err), "("+tt.rule+")"; !strings.HasSuffix(got, want) {
				t.Fatalf("message: got %q, want suffix %q", got, want)
			}
		})
	}
}

func policyName(p *poller.Policy) string {
	s := "default"
	if p.DenyPrivate {
		s = "deny-private"
	}
	if len(p.Allow) > 0 {
		s += "+allow"
	}
	if len(p.Deny) > 0 {
		s += "+deny"
	}
	return s
}

func TestPolicy_CheckAddr_Message(t *testing.T) {
	err := (&poller.Policy{}).CheckAddr(netip.MustParseAddr("169.254.169.254"))
	want := &apistream.Error{Code: apistream.EFORBIDDEN, Message: "target address 169.254.169.254 is refused by the access policy (link-local / cloud metadata)"}
	if got, ok := err.(*apistream.Error); !ok || *got != *want {
		t.Fatalf("got %#v, want %#v", err, want)
	}
}

func TestPolicy_CheckURL(t *testing.T) {
	denyPrivate := &poller.Policy{DenyPrivate: true}
	allowMeta := &poller.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}}
	for _, tt := range []struct {
		policy *poller.Policy
		url    string
		code   string
	}{
		{nil, "http://169.254.169.254/latest/meta-data/", apistream.EFORBIDDEN},
		{nil, "http://[fd00:ec2::254]/latest/meta-data/", apistream.EFORBIDDEN},
		{nil, "http://[::ffff:169.254.169.254]:8080/", apistream.EFORBIDDEN},
		{nil, "http://[fe80::1%25eth0]/", apistream.EFORBIDDEN},
		{nil, "http://metadata.google.internal/", ""}, // names are checked at connect time
		{nil, "http://10.0.0.1/", ""},
		{denyPrivate, "http://10.0.0.1/", apistream.EFORBIDDEN},
		{denyPrivate, "https://api.example.com/v1", ""},
		{allowMeta, "http://169.254.169.254/latest/", apistream.EFORBIDDEN},
		{nil, "ftp://example.com/", apistream.EINVALID},
		{nil, "/relative", apistream.EINVALID},
	} {
		t.Run(tt.url, func(t *testing.T) {
			err := tt.policy.CheckURL(tt.url)
			if got, want := apistream.ErrorCode(err), tt.code; got != want {
				t.Fatalf("code: got %q, want %q (err %v)", got, want, err)
			}
			if err != nil {
				if got, want := apistream.ErrorField(err), "url"; got != want {
					t.Fatalf("field: got %q, want %q", got, want)
				}
			}
		})
	}
}
