// Package pgtest starts a real PostgreSQL server for a package's tests: one server per test binary,
// started on first use from the Debian postgresql package's initdb and pg_ctl, in a temporary
// directory on a free port of 127.0.0.1, and one new database per test. A package that uses it calls
// Main from its TestMain, which stops the server once the tests are done.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// NotInstalled is the skip message of tests that need PostgreSQL where it is not installed.
const NotInstalled = "PostgreSQL not installed: apt-get install postgresql"

var (
	once   sync.Once
	srv    *server
	srvErr error
	dbs    atomic.Int64
)

// server is one running PostgreSQL.
type server struct {
	dir, bin string
	port     int
	asUser   string // run the server's commands as this user ("" for ourselves): initdb refuses root
	mu       sync.Mutex
	admin    *pgx.Conn // to the postgres database, creating the tests' databases
}

// Main runs the tests and stops the server if one was started; it returns m.Run's exit code.
func Main(m *testing.M) int {
	code := m.Run()
	if srv != nil {
		srv.stop()
	}
	return code
}

// URL creates a new, empty database and returns its connection string. It skips the test when
// PostgreSQL is not installed, and fails it when the server would not start.
func URL(tb testing.TB) string {
	tb.Helper()
	once.Do(func() { srv, srvErr = start() })
	if errors.Is(srvErr, errNotInstalled) {
		tb.Skip(NotInstalled)
	}
	if srvErr != nil {
		tb.Fatalf("start PostgreSQL: %v", srvErr)
	}
	name := fmt.Sprintf("test_%d", dbs.Add(1))
	srv.mu.Lock()
	_, err := srv.admin.Exec(context.Background(), `CREATE DATABASE `+name+` TEMPLATE template0`)
	srv.mu.Unlock()
	if err != nil {
		tb.Fatalf("create database: %v", err)
	}
	return srv.url(name)
}

var errNotInstalled = errors.New("not installed")

// binDir returns the newest /usr/lib/postgresql/*/bin holding initdb.
func binDir() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", errNotInstalled
	}
	sort.Slice(found, func(i, j int) bool { return version(found[i]) < version(found[j]) })
	return filepath.Dir(found[len(found)-1]), nil
}

func version(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

func start() (*server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("initdb refuses root and there is no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.asUser = "postgres"
	}
	data := filepath.Join(dir, "data")
	if out, err := s.run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if s.port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// A test server: durability is not what is tested, speed is what CI needs.
	opts := fmt.Sprintf("-p %d -h 127.0.0.1 -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400", s.port, dir)
	if out, err := s.run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.admin, err = pgx.Connect(ctx, s.url("postgres"))
		cancel()
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("connect: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// run runs one of the server's programs, as the postgres user when we are root.
func (s *server) run(name string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, name)
	var cmd *exec.Cmd
	if s.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

func (s *server) stop() {
	if s.admin != nil {
		s.admin.Close(context.Background())
	}
	s.run("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w", "stop")
	os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
