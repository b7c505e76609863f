// Package redistest runs a throwaway redis-server for tests.
//
// [Start] launches redis-server on a free loopback port in a temporary
// directory, without persistence, and stops it when the test ends. When
// redis-server is not on PATH the test is skipped, unless the environment
// variable CI is set, in which case it fails: CI must not silently skip.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// StartTimeout bounds how long [Start] and [Server.Restart] wait for
// redis-server to answer PING, and how long [Server.Stop] waits for it to exit.
const StartTimeout = 5 * time.Second

// A Server is a redis-server process started by [Start].
// Its methods are safe for concurrent use, but Restart must be called from the
// test's goroutine because it may fail the test.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	port int

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has exited
	logPath string
}

// Start launches redis-server on a free port of 127.0.0.1 and waits until it
// answers PING. The server is stopped by tb.Cleanup.
//
// If redis-server is not on PATH, Start skips the test, or fails it when the
// environment variable CI is set.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("redistest: redis-server not found on PATH (required when CI is set): %v", err)
		}
		tb.Skipf("redistest: redis-server not found on PATH: %v", err)
	}
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir()}
	tb.Cleanup(s.Stop)

	// A port found free may be taken before redis-server binds it; retry a
	// few times with a fresh port.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: finding a free port: %v", err)
		}
		s.port = port
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	tb.Fatalf("redistest: %v", lastErr)
	return nil
}

// Addr returns the server's address, "127.0.0.1:<port>".
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL returns the server's URL for database 0, "redis://127.0.0.1:<port>/0".
func (s *Server) URL() string {
	return "redis://" + s.Addr() + "/0"
}

// Stop kills the server and waits for it to exit. It is a no-op if the server
// is not running.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// Restart starts the server again on the same port (stopping it first if it
// is running) and waits until it answers PING. The data set starts empty.
// It fails the test if the server does not come up.
func (s *Server) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	s.stopLocked()
	s.mu.Unlock()
	// The port was just released; binding it again may briefly fail.
	deadline := time.Now().Add(StartTimeout)
	for {
		err := s.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("redistest: restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.exited:
	case <-time.After(StartTimeout):
		s.tb.Errorf("redistest: redis-server (pid %d) did not exit within %v after kill", s.cmd.Process.Pid, StartTimeout)
	}
	s.cmd = nil
}

// start launches the process and waits for PING. On failure, the process is
// killed and the error includes the tail of the server's log.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("server already running")
	}
	s.logPath = filepath.Join(s.dir, "redis-"+strconv.Itoa(s.port)+".log")
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()

	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
	)
	cmd.Dir = s.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	if err := waitPing(s.Addr(), exited, StartTimeout); err != nil {
		s.stopLocked()
		return fmt.Errorf("redis-server on %s: %w%s", s.Addr(), err, s.logTail())
	}
	return nil
}

// logTail returns the last lines of the server log, for error messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return "\nredis-server log (tail):\n" + strings.Join(lines, "\n")
}

// waitPing polls addr with PING until it answers +PONG, the process exits or
// timeout elapses.
func waitPing(addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		select {
		case <-exited:
			return errors.New("process exited before answering PING")
		default:
		}
		if lastErr = ping(addr); lastErr == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG within %v: %w", timeout, lastErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("unexpected reply to PING: %q", line)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
