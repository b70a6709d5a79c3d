package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCLI_Tail: tail prints every event of a tricky stream once across its reconnects and exits 0 on
// its 204; with --apply-patches it prints a job stream's document after each change, and Ctrl-C
// ends it with 0; a 4xx answer ends it with an error.
func TestCLI_Tail(t *testing.T) {
	t.Parallel()
	up := &trickyUpstream{total: 12}
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	var out, errb syncBuffer
	code := Main(context.Background(), []string{"tail", upstream.URL, "--json"}, strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("tail: exit %d: %s", code, errb.String())
	}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	n := 0
	for ; sc.Scan(); n++ {
		var l tailLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %d %q: %v", n, sc.Text(), err)
		}
		if l.ID != fmt.Sprintf("e-%d", n) || l.Data != trickyData(n) || l.Retry != 200 {
			t.Errorf("line %d: %+v, want id e-%d, data %q, retry 200", n, l, n, trickyData(n))
		}
	}
	if n != 12 {
		t.Errorf("%d events printed, want 12", n)
	}

	// --apply-patches on a job stream, until Ctrl-C.
	up2 := &docUpstream{}
	upstream2 := httptest.NewServer(up2)
	defer upstream2.Close()
	s := startServer(t, "--api-token", "tok")
	call(t, "POST", s.URL+"/v1/jobs", "tok", map[string]any{"name": "doc", "url": upstream2.URL, "interval": "1s"}, nil)
	call(t, "POST", s.URL+"/v1/jobs/doc/start", "tok", nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var docs syncBuffer
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"tail", s.URL + "/v1/jobs/doc/stream", "-H", "Authorization: Bearer tok", "--apply-patches", "--json"},
			strings.NewReader(""), &docs, &errb)
	}()
	waitFor(t, "three documents", func() bool { return strings.Count(docs.String(), `"type":"document"`) >= 3 })
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("tail after Ctrl-C: exit %d, want 0", code)
	}
	sc = bufio.NewScanner(strings.NewReader(docs.String()))
	for sc.Scan() {
		var l tailLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Type != "document" {
			continue
		}
		if up2.which(t, []byte(l.Data)) < 0 {
			t.Errorf("document %.80s is not one the upstream served", l.Data)
		}
	}

	var errs syncBuffer
	code = Main(context.Background(), []string{"tail", s.URL + "/v1/jobs/doc/stream", "-H", "Authorization: Bearer wrong"}, strings.NewReader(""), &out, &errs)
	if code == 0 || !strings.Contains(errs.String(), "401") {
		t.Errorf("tail with a wrong token: exit %d, %q; want an error naming the 401", code, errs.String())
	}
}
