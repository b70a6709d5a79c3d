package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apistream/apistream"
)

func TestParseHeaders(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		lines   []string
		want    map[string]string
		wantErr string // a part of the message
	}{
		{"None", nil, map[string]string{}, ""},
		{"Trimmed", []string{"Accept:  application/json ", " X-Id:7"}, map[string]string{"Accept": "application/json", "X-Id": "7"}, ""},
		{"ColonsInValue", []string{"Authorization: Bearer a:b", "Accept: a, b"}, map[string]string{"Authorization": "Bearer a:b", "Accept": "a, b"}, ""},
		{"EmptyValue", []string{"X-Empty:"}, map[string]string{"X-Empty": ""}, ""},
		{"NoColon", []string{"Accept application/json"}, nil, "has no colon"},
		{"NoName", []string{": value"}, nil, "has no name"},
		{"Twice", []string{"Accept: a", "accept: b"}, nil, "given twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseHeaders(tt.lines)
			if tt.wantErr != "" {
				if !strings.Contains(apistream.ErrorMessage(err), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				if got, want := apistream.ErrorField(err), "headers"; got != want {
					t.Errorf("field = %q, want %q", got, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDeriveName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ url, want string }{
		{"https://api.example.com/v1/prices?x=1#y", "api.example.com-v1-prices"},
		{"https://www.Example.COM/", "example.com"},
		{"https://example.com", "example.com"},
		{"http://127.0.0.1:7780/healthz", "127.0.0.1-7780-healthz"},
		{"http://[::1]:8080/a", "1-8080-a"},
		{"https://x.io/a//b/../c/", "x.io-a-c"},
		{"https://x.io/~user/some file.json", "x.io-user-some-file.json"},
		{"https://x.io/a--b__c", "x.io-a-b__c"},
		{"http://10/20", "10-20"},
		{"http://1234", "job-1234"},
		{"https://x.io/" + strings.Repeat("a", 200), "x.io-" + strings.Repeat("a", 95)},
		{"https://x.io/" + strings.Repeat("a", 94) + "/b", "x.io-" + strings.Repeat("a", 94)},
	} {
		t.Run(tt.url, func(t *testing.T) {
			got, err := deriveName(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("deriveName(%q) = %q, want %q", tt.url, got, tt.want)
			}
			// Whatever it makes, the server must accept as a name.
			spec := apistream.DefaultJobSpec()
			spec.Name, spec.URL = got, "https://example.com"
			if err := spec.Validate(); err != nil {
				t.Errorf("server would refuse %q: %v", got, err)
			}
		})
	}
	for _, bad := range []string{"", "not a url", "/relative/path", "http://"} {
		if _, err := deriveName(bad); apistream.ErrorCode(err) != apistream.EINVALID {
			t.Errorf("deriveName(%q) err = %v, want invalid", bad, err)
		}
	}
}

func TestRelTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "-"},
		{now, "now"},
		{now.Add(-500 * time.Millisecond), "now"},
		{now.Add(-3 * time.Second), "3s ago"},
		{now.Add(42 * time.Second), "in 42s"},
		{now.Add(-5*time.Minute - 12*time.Second), "5m12s ago"},
		{now.Add(-5 * time.Minute), "5m ago"},
		{now.Add(3*time.Hour + 5*time.Minute + 59*time.Second), "in 3h5m"},
		{now.Add(-50 * time.Hour), "2d2h ago"},
	} {
		if got := relTime(tt.t, now); got != tt.want {
			t.Errorf("relTime(now%+v) = %q, want %q", tt.t.Sub(now), got, tt.want)
		}
	}
	if got, want := relTimePtr(nil, now), "-"; got != want {
		t.Errorf("relTimePtr(nil) = %q, want %q", got, want)
	}
}

func TestShortDuration(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{500 * time.Millisecond, "500ms"},
		{30 * time.Second, "30s"},
		{time.Minute, "1m"},
		{90 * time.Second, "1m30s"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + time.Second, "1h0m1s"},
	} {
		if got := shortDuration(tt.d); got != tt.want {
			t.Errorf("shortDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestMillis(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		ms   int64
		want string
	}{
		{0, "0ms"},
		{87, "87ms"},
		{1234, "1.2s"},
		{125_400, "2m5s"},
	} {
		if got := millis(tt.ms); got != tt.want {
			t.Errorf("millis(%d) = %q, want %q", tt.ms, got, tt.want)
		}
	}
}

func TestByteSize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1536, "1.5 KiB"},
		{10 << 20, "10.0 MiB"},
		{3 << 30, "3.0 GiB"},
	} {
		if got := byteSize(tt.n); got != tt.want {
			t.Errorf("byteSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		s    string
		max  int
		want string
	}{
		{"", 10, "-"},
		{"short", 10, "short"},
		{"two\nlines\t here", 20, "two lines here"},
		{"exactly10!", 10, "exactly10!"},
		{"this is too long", 10, "this is t…"},
		{"ééééééé", 4, "ééé…"},
	} {
		if got := oneLine(tt.s, tt.max); got != tt.want {
			t.Errorf("oneLine(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
		}
	}
}

func TestParseRunID(t *testing.T) {
	t.Parallel()
	if got, err := parseRunID("42"); err != nil || got != 42 {
		t.Errorf("parseRunID(42) = %d, %v", got, err)
	}
	for _, bad := range []string{"", "0", "-1", "x", "1.5"} {
		if _, err := parseRunID(bad); apistream.ErrorField(err) != "run_id" {
			t.Errorf("parseRunID(%q) err = %v, want invalid run_id", bad, err)
		}
	}
}

func TestRunPrinter_Print(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := &runPrinter{w: &buf}
	// The API gives runs newest first; the printer prints them oldest first, each once.
	last, err := p.print([]*apistream.Run{{ID: 3}, {ID: 2, ErrorCode: "timeout", Error: "no answer in 10s"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.print([]*apistream.Run{{ID: 4, Response: &apistream.RunResponse{Status: 200, SizeBytes: 2048}, Changed: true}, {ID: 3}}); err != nil {
		t.Fatal(err)
	}
	if got, want := last, int64(3); got != want {
		t.Errorf("last = %d, want %d", got, want)
	}
	var ids []string
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for _, l := range lines {
		ids = append(ids, strings.Fields(l)[0])
	}
	if got, want := ids, []string{"RUN", "2", "3", "4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rows = %q, want %q\n%s", got, want, buf.String())
	}
	for i, want := range map[int][]string{1: {"-", "timeout: no answer in 10s"}, 3: {"200", "2.0 KiB", "yes"}} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("row %q does not show %q", lines[i], w)
			}
		}
	}
}
