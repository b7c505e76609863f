package cloudrun

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// server is a Run started on a real loopback listener with an injected signal
// channel.
type server struct {
	url  string
	addr string
	sigs chan os.Signal
	done chan error
}

func start(t *testing.T, ctx context.Context, h http.Handler, opts Options) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{
		url:  "http://" + ln.Addr().String(),
		addr: ln.Addr().String(),
		sigs: make(chan os.Signal, 2),
		done: make(chan error, 1),
	}
	opts.Listener = ln
	opts.signals = s.sigs
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	go func() { s.done <- Run(ctx, h, opts) }()
	t.Cleanup(func() {
		select {
		case s.sigs <- syscall.SIGTERM:
		default:
		}
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return")
		}
	})
	return s
}

// wait returns Run's result, failing the test if it takes longer than d.
func (s *server) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err // for Cleanup
		return err
	case <-time.After(d):
		t.Fatalf("Run did not return within %s", d)
		return nil
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fresh makes every request on a new connection, as a probe does.
var fresh = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}

func get(t *testing.T, method, url string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := fresh.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

var appHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "app %s %s", r.Method, r.URL.Path)
})

func TestHealthEndpoints(t *testing.T) {
	s := start(t, t.Context(), appHandler, Options{})
	tests := []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/healthz", 200, "ok\n"},
		{"HEAD", "/healthz", 200, ""},
		{"POST", "/healthz", 405, "method not allowed\n"},
		{"GET", "/readyz", 200, "ready\n"},
		{"HEAD", "/readyz", 200, ""},
		{"DELETE", "/readyz", 405, "method not allowed\n"},
		{"GET", "/mcp", 200, "app GET /mcp"},
		{"POST", "/mcp", 200, "app POST /mcp"},
		{"GET", "/healthz/x", 200, "app GET /healthz/x"},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			code, body, hdr := get(t, tt.method, s.url+tt.path)
			if code != tt.code || body != tt.body {
				t.Fatalf("got %d %q, want %d %q", code, body, tt.code, tt.body)
			}
			if code == 405 && hdr.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", hdr.Get("Allow"))
			}
			if strings.HasSuffix(tt.path, "z") && hdr.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", hdr.Get("Cache-Control"))
			}
		})
	}
}

func TestReadinessFollowsReady(t *testing.T) {
	var failure atomic.Pointer[error]
	var slow atomic.Bool
	ready := func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			return errors.New("no deadline")
		}
		if slow.Load() {
			<-ctx.Done()
			return ctx.Err()
		}
		if p := failure.Load(); p != nil {
			return *p
		}
		return nil
	}
	s := start(t, t.Context(), appHandler, Options{Ready: ready, ReadyTimeout: 100 * time.Millisecond})

	check := func(wantCode int, wantBody string) {
		t.Helper()
		code, body, _ := get(t, "GET", s.url+"/readyz")
		if code != wantCode || !strings.Contains(body, wantBody) {
			t.Fatalf("/readyz = %d %q, want %d containing %q", code, body, wantCode, wantBody)
		}
		// Liveness does not depend on readiness.
		if code, _, _ := get(t, "GET", s.url+"/healthz"); code != 200 {
			t.Fatalf("/healthz = %d", code)
		}
	}
	check(200, "ready")
	err := errors.New("redis: dial tcp 127.0.0.1:6379: connection refused")
	failure.Store(&err)
	check(503, "not ready: redis: dial tcp 127.0.0.1:6379: connection refused")
	failure.Store(nil)
	check(200, "ready")
	slow.Store(true)
	start := time.Now()
	check(503, "context deadline exceeded")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("slow Ready took %s, want about ReadyTimeout", d)
	}
}

// A request in flight when SIGTERM arrives completes; meanwhile /readyz says
// draining, /healthz stays up, and Run returns nil once the request is done.
func TestSlowRequestCompletesAcrossSIGTERM(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		if err := r.Context().Err(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		io.WriteString(w, "done")
	})
	const drainDelay = 400 * time.Millisecond
	s := start(t, t.Context(), h, Options{ShutdownGrace: 5 * time.Second, DrainDelay: drainDelay})

	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(s.url + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, string(b), err}
	}()
	<-entered

	sigAt := time.Now()
	s.sigs <- syscall.SIGTERM
	// During DrainDelay the listener is still open: probes see the drain.
	deadline := time.Now().Add(drainDelay / 2)
	for {
		code, body, _ := get(t, "GET", s.url+"/readyz")
		if code == 503 && body == "draining\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %q, want 503 draining", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, _, _ := get(t, "GET", s.url+"/healthz"); code != 200 {
		t.Fatalf("/healthz while draining = %d, want 200", code)
	}

	// After DrainDelay the listener is closed, but Run waits for /slow.
	time.Sleep(time.Until(sigAt.Add(drainDelay + 200*time.Millisecond)))
	if c, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
		c.Close()
		t.Error("new connection accepted after the drain delay")
	}
	select {
	case err := <-s.done:
		t.Fatalf("Run returned %v while a request was in flight", err)
	default:
	}

	close(release)
	r := <-res
	if r.err != nil || r.code != 200 || r.body != "done" {
		t.Fatalf("in-flight request: %d %q %v", r.code, r.body, r.err)
	}
	if err := s.wait(t, 5*time.Second); err != nil {
		t.Fatalf("Run = %v, want nil after a clean drain", err)
	}
}

func TestGraceExpiredReturnsError(t *testing.T) {
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done() // never finishes by itself
	})
	s := start(t, t.Context(), h, Options{ShutdownGrace: 300 * time.Millisecond})
	clientErr := make(chan error, 1)
	go func() {
		resp, err := http.Get(s.url + "/stuck")
		if err == nil {
			resp.Body.Close()
		}
		clientErr <- err
	}()
	<-entered
	begin := time.Now()
	s.sigs <- syscall.SIGTERM
	err := s.wait(t, 5*time.Second)
	if !errors.Is(err, ErrGraceExpired) {
		t.Fatalf("Run = %v, want ErrGraceExpired", err)
	}
	if !strings.Contains(err.Error(), "1 request(s) still running") {
		t.Errorf("error %q does not count the running request", err)
	}
	if d := time.Since(begin); d < 300*time.Millisecond || d > 3*time.Second {
		t.Errorf("Run returned after %s, want about the grace period", d)
	}
	if err := <-clientErr; err == nil {
		t.Error("stuck request succeeded, want its connection closed")
	}
}

// streamer is an SSE handler that implements Shutdowner the way the MCP
// handler does: Shutdown ends open streams with a retry hint.
type streamer struct {
	stop      chan struct{}
	calls     atomic.Int32
	deadline  atomic.Pointer[time.Time]
	connected chan struct{}
}

func (s *streamer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	io.WriteString(w, "data: hello\n\n")
	http.NewResponseController(w).Flush()
	s.connected <- struct{}{}
	select {
	case <-s.stop:
		io.WriteString(w, "retry: 1000\n\n")
	case <-r.Context().Done():
	}
}

func (s *streamer) Shutdown(ctx context.Context) error {
	s.calls.Add(1)
	if d, ok := ctx.Deadline(); ok {
		s.deadline.Store(&d)
	}
	close(s.stop)
	return nil
}

func TestShutdownerEndsStreams(t *testing.T) {
	st := &streamer{stop: make(chan struct{}), connected: make(chan struct{}, 1)}
	const grace = 3 * time.Second
	s := start(t, t.Context(), st, Options{ShutdownGrace: grace})

	resp, err := http.Get(s.url + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-st.connected
	sigAt := time.Now()
	s.sigs <- syscall.SIGTERM

	b, err := io.ReadAll(bufio.NewReader(resp.Body))
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	if got := string(b); got != "data: hello\n\nretry: 1000\n\n" {
		t.Fatalf("stream = %q, want hello then a retry hint", got)
	}
	if err := s.wait(t, 5*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if time.Since(sigAt) > time.Second {
		t.Errorf("drain took %s; Shutdown should end streams at once", time.Since(sigAt))
	}
	if n := st.calls.Load(); n != 1 {
		t.Errorf("Shutdown called %d times, want 1", n)
	}
	d := st.deadline.Load()
	if d == nil {
		t.Fatal("Shutdown context has no deadline")
	}
	if left := d.Sub(sigAt); left < grace-time.Second || left > grace+time.Second {
		t.Errorf("Shutdown deadline %s after the signal, want about %s", left, grace)
	}
}

type failingShutdown struct{ http.Handler }

func (failingShutdown) Shutdown(context.Context) error {
	return errors.New("2 tool calls still running")
}

func TestHandlerShutdownErrorIsReturned(t *testing.T) {
	s := start(t, t.Context(), failingShutdown{appHandler}, Options{})
	s.sigs <- syscall.SIGINT
	err := s.wait(t, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "handler shutdown: 2 tool calls still running") {
		t.Fatalf("Run = %v", err)
	}
}

// Cancelling Run's context drains like a signal and does not cancel the
// contexts of in-flight requests.
func TestContextCancelDrainsWithoutCancellingRequests(t *testing.T) {
	type key struct{}
	entered := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		fmt.Fprintf(w, "err=%v value=%v", r.Context().Err(), r.Context().Value(key{}))
	})
	ctx, cancel := context.WithCancel(context.WithValue(t.Context(), key{}, "kept"))
	defer cancel()
	s := start(t, ctx, h, Options{})
	body := make(chan string, 1)
	go func() {
		resp, err := http.Get(s.url + "/work")
		if err != nil {
			body <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body <- string(b)
	}()
	<-entered
	cancel()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if got := <-body; got != "err=<nil> value=kept" {
		t.Fatalf("in-flight request saw %q", got)
	}
	if err := s.wait(t, 5*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestSecondSignalInterruptsDrain(t *testing.T) {
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})
	s := start(t, t.Context(), h, Options{ShutdownGrace: time.Minute})
	go func() {
		if resp, err := http.Get(s.url + "/stuck"); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	s.sigs <- syscall.SIGTERM
	time.Sleep(50 * time.Millisecond)
	s.sigs <- syscall.SIGINT
	err := s.wait(t, 5*time.Second)
	if !errors.Is(err, ErrDrainInterrupted) {
		t.Fatalf("Run = %v, want ErrDrainInterrupted", err)
	}
}

func TestListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = Run(t.Context(), appHandler, Options{Addr: ln.Addr().String(), signals: make(chan os.Signal)})
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Run on a busy port = %v, want a listen error", err)
	}
}

func TestAddrFromPORT(t *testing.T) {
	for _, tt := range []struct{ port, want string }{
		{"", ":8080"},
		{"9090", ":9090"},
	} {
		got := defaultAddr(func(k string) string {
			if k == "PORT" {
				return tt.port
			}
			return ""
		})
		if got != tt.want {
			t.Errorf("PORT=%q: addr %q, want %q", tt.port, got, tt.want)
		}
	}
	// Through Run: PORT picks the port when Addr is empty.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	t.Setenv("PORT", fmt.Sprint(port))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, appHandler, Options{signals: make(chan os.Signal), Logger: slog.New(slog.DiscardHandler)})
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
	var lastErr error
	for range 100 {
		resp, err := fresh.Get(url)
		if err == nil {
			resp.Body.Close()
			lastErr = nil
			break
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if lastErr != nil {
		t.Fatalf("server on $PORT not reachable: %v", lastErr)
	}
}

// TestRealSIGTERM runs Run in a child process and sends it a real SIGTERM
// while a request is in flight: the request completes and the process exits 0.
func TestRealSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "CLOUDRUN_HELPER_PROCESS=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	var addr string
	for lines.Scan() {
		if a, ok := strings.CutPrefix(lines.Text(), "ADDR "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatalf("helper printed no address; stderr:\n%s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)

	resp, err := http.Get("http://" + addr + "/slow") // headers arrive before the body
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != "started\ndone\n" {
		t.Fatalf("in-flight body %q, %v", b, err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper exit: %v; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "signal terminated") {
		t.Errorf("helper log does not show the signal:\n%s", stderr.String())
	}
}

func TestHelperProcess(t *testing.T) {
	if os.Getenv("CLOUDRUN_HELPER_PROCESS") != "1" {
		t.Skip("helper for TestRealSIGTERM")
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "started\n")
		http.NewResponseController(w).Flush()
		time.Sleep(500 * time.Millisecond)
		io.WriteString(w, "done\n")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	fmt.Println("ADDR", ln.Addr().String())
	err = Run(context.Background(), h, Options{
		Listener:      ln,
		ShutdownGrace: 5 * time.Second,
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "Run:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
