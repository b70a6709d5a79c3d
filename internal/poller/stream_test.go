package poller_test

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/poller"
)

// TestPoller_Open_Failures: a stream that cannot be opened fails with the code a fetch would have,
// not as a timeout unless its headers really did not come in time.
func TestPoller_Open_Failures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/"
	ln.Close()
	hang := released(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			_, port, _ := net.SplitHostPort(r.Host)
			http.Redirect(w, r, "http://127.0.0.2:"+port+"/inside", http.StatusFound)
		case "/hang":
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		}
	})
	p := newPoller(t, poller.Config{Policy: &poller.Policy{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}})
	for _, tt := range []struct {
		name, url, code, msg string
		timeout              time.Duration
	}{
		{"refused", refused, apistream.RunErrConnect, "connection refused", 10 * time.Second},
		{"forbidden redirect", srv.URL + "/redirect", apistream.RunErrForbiddenTarget, "127.0.0.2 is refused by the access policy (deny list)", 10 * time.Second},
		{"no headers", srv.URL + "/hang", apistream.RunErrTimeout, "no response within 200ms", 200 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := p.Open(t.Context(), poller.Request{URL: tt.url, Timeout: tt.timeout}, "")
			if err == nil {
				resp.Body.Close()
				t.Fatal("opened, want a failure")
			}
			oe, ok := err.(*poller.OpenError)
			if !ok {
				t.Fatalf("error %T %v, want *poller.OpenError", err, err)
			}
			if got, want := oe.Code, tt.code; got != want || !strings.Contains(oe.Message, tt.msg) {
				t.Errorf("got %s %q, want %s saying %q", got, oe.Message, want, tt.msg)
			}
		})
	}
}
