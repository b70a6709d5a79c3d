package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestServe_Metrics: /metrics has the hub's and the jobs' figures, behind the API token, and the
// same figures reach a Graphite server over its plaintext protocol.
func TestServe_Metrics(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var pushed []string
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					mu.Lock()
					pushed = append(pushed, sc.Text())
					mu.Unlock()
				}
			}()
		}
	}()

	s := startServer(t, "--api-token", "tok", "--graphite-addr", ln.Addr().String(), "--graphite-interval", "1s")
	c := subscribe(t, s.URL+"/v1/subscribe/m", "tok", "")
	s.publish(t, "tok", "m", "x")
	c.waitEvents(t, 1)

	if code := call(t, "GET", s.URL+"/metrics", "", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("metrics without the token: %d, want 401", code)
	}
	var body []byte
	scrape := func() bool {
		req, _ := http.NewRequest("GET", s.URL+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(body), "apistream_hub_events_delivered_total 1") &&
			strings.Contains(string(body), "apistream_hub_delivery_latency_seconds_count 1")
	}
	// The stream counts a delivery once its write returned, which can be after the client read it.
	waitFor(t, "the delivery counted in /metrics", scrape)
	for _, want := range []string{
		`apistream_hub_connections{topic="m"} 1`,
		"apistream_hub_events_published_total 1",
		"apistream_hub_events_delivered_total 1",
		"apistream_hub_delivery_latency_seconds_count 1",
		"apistream_hub_slow_disconnects_total 0",
		"apistream_hub_transport_resets_total 0",
		`apistream_jobs{state="running"} 0`,
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	waitFor(t, "a Graphite push", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range pushed {
			if strings.HasPrefix(l, "apistream.apistream_hub_events_published_total 1 ") {
				return true
			}
		}
		return false
	})
}
