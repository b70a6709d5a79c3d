package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// dial opens a raw TCP connection to s, closed when the test ends.
func (s *testServer) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitClosed reads c until the server closes it; it fails the test if that takes over 20s.
func waitClosed(t *testing.T, c net.Conn, r io.Reader, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, r)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("%s: the server kept the connection open", what)
	}
}

// TestServe_BodyTimeout: a client that sends a POST's headers and part of its body, then stalls,
// is cut after --body-timeout.
func TestServe_BodyTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--body-timeout", "1s")
	c := s.dial(t)
	if _, err := io.WriteString(c, "POST /v1/publish/news HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789"); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c, c, "stalled body")
}

// TestServe_IdleTimeout: a keep-alive connection with no request after its last one is closed after
// --idle-timeout.
func TestServe_IdleTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--idle-timeout", "1s")
	c := s.dial(t)
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("healthz: %d, close %v; want a 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	waitClosed(t, c, br, "idle keep-alive connection")
}

// TestServe_StreamOutlivesTimeouts: the body, idle and header timeouts do not cut a subscription
// that lives longer than all of them; it still gets the next event.
func TestServe_StreamOutlivesTimeouts(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--body-timeout", "1s", "--idle-timeout", "1s", "--read-header-timeout", "1s", "--keepalive", "1s")
	c := s.dial(t)
	if _, err := io.WriteString(c, "GET /v1/subscribe/news HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe: status %d", resp.StatusCode)
	}
	body := bufio.NewReader(resp.Body)
	// Three keep-alive comments, a second apart, take the stream past every timeout.
	for comments := 0; comments < 3; {
		line, err := body.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended after %d keep-alives: %v", comments, err)
		}
		if strings.HasPrefix(line, ":") {
			comments++
		}
	}
	s.publish(t, "", "news", "still here")
	for {
		line, err := body.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before the event: %v", err)
		}
		if got, want := strings.TrimSpace(line), "data: still here"; got == want {
			return
		}
	}
}

// TestServe_MaxConnections: past --max-connections, a new connection waits until one closes, the
// server says that it is at the limit, and it still shuts down there.
func TestServe_MaxConnections(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--max-connections", "2")
	get := func(c net.Conn, br *bufio.Reader) int {
		t.Helper()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	a, b := s.dial(t), s.dial(t)
	for _, c := range []net.Conn{a, b} {
		if got, want := get(c, bufio.NewReader(c)), http.StatusOK; got != want {
			t.Fatalf("healthz: %d, want %d", got, want)
		}
	}
	waitFor(t, "the server to log that it is at the connection limit", func() bool {
		return strings.Contains(s.log.String(), "connection limit reached")
	})
	c := s.dial(t)
	a.Close()
	if got, want := get(c, bufio.NewReader(c)), http.StatusOK; got != want {
		t.Errorf("healthz on the third connection, after the first closed: %d, want %d", got, want)
	}

	// At the limit again, the server still shuts down.
	stopped := make(chan int, 1)
	go func() { stopped <- s.stop() }()
	code := -1
	waitFor(t, "the server to stop at the connection limit", func() bool {
		select {
		case code = <-stopped:
			return true
		default:
			return false
		}
	})
	if code != 0 {
		t.Errorf("stop: exit %d", code)
	}
}

// TestServe_HeaderCap: a request whose headers are over 64 KiB is refused with a 431.
func TestServe_HeaderCap(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	for _, tc := range []struct {
		size int
		want int
	}{
		{8 << 10, http.StatusOK},
		{100 << 10, http.StatusRequestHeaderFieldsTooLarge},
	} {
		req, _ := http.NewRequest("GET", s.URL+"/healthz", nil)
		req.Header.Set("X-Padding", strings.Repeat("p", tc.size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.StatusCode; got != tc.want {
			t.Errorf("%d bytes of headers: status %d, want %d", tc.size, got, tc.want)
		}
	}
}
