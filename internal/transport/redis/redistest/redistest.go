// Package redistest starts real redis-server processes for a package's tests: each on a free port
// of 127.0.0.1, with a temporary directory and no persistence, stopped when the test ends. A test can
// kill and restart its server on the same port to see what a client does when Redis goes away.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// NotInstalled is the skip message of tests that need Redis where it is not installed.
const NotInstalled = "redis-server not installed: apt-get install redis-server"

// Server is one redis-server a test started.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	port int
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts a redis-server for tb and stops it at cleanup. It skips the test when redis-server is
// not installed, and fails it when the server would not start.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Skip(NotInstalled)
	}
	port, err := freePort()
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir(), port: port}
	if err := s.start(); err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	tb.Cleanup(s.Kill)
	return s
}

// URL returns the server's redis:// URL.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Kill stops the server at once (SIGKILL) and waits until it has exited: what it held is lost.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts a new, empty server on the same port after Kill.
func (s *Server) Restart() {
	s.tb.Helper()
	if err := s.start(); err != nil {
		s.tb.Fatalf("restart redis-server: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("already running")
	}
	// A test server: nothing is saved, so a restart starts empty.
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", s.dir, "--daemonize", "no", "--loglevel", "warning")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	var log strings.Builder
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			logMu.Lock()
			log.WriteString(sc.Text() + "\n")
			logMu.Unlock()
		}
		_ = cmd.Wait()
		close(done)
	}()
	// Ready when it accepts a PING: the port may still be held for a moment after a kill.
	deadline := time.Now().Add(30 * time.Second)
	for !ping(s.Addr()) {
		select {
		case <-done:
			logMu.Lock()
			defer logMu.Unlock()
			return fmt.Errorf("redis-server exited:\n%s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server did not answer on %s", s.Addr())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.cmd, s.done = cmd, done
	return nil
}

// ping reports whether a Redis server answers PING at addr.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
