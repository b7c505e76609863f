package main

// Tests of the real binary: built once with `go build`, started as a child
// process on loopback, driven over HTTP, stopped with SIGTERM.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpfleet/mcpfleet/internal/ssetest"
)

// testBinary is built at most once per test run.
var testBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testBinary.dir != "" {
		os.RemoveAll(testBinary.dir)
	}
	os.Exit(code)
}

// binary returns the path of the mcpfleet binary, building it on first use.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	testBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "mcpfleet-test-")
		if err != nil {
			testBinary.err = err
			return
		}
		testBinary.dir = dir
		testBinary.path = filepath.Join(dir, "mcpfleet")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", testBinary.path, ".").CombinedOutput()
		if err != nil {
			testBinary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if testBinary.err != nil {
		t.Fatal(testBinary.err)
	}
	return testBinary.path
}

// proc is a running mcpfleet process.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *syncBuffer
	stdout *syncBuffer
	url    string // http://127.0.0.1:port
	done   chan struct{}
	code   int // exit code, once done is closed
}

// startProc starts the binary with exactly env (nothing inherited) and waits
// until it serves.
func startProc(t *testing.T, env ...string) *proc {
	t.Helper()
	p := &proc{t: t, stderr: &syncBuffer{}, stdout: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary(t))
	p.cmd.Env = env
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = p.stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		if err != nil && p.code == 0 {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("mcpfleet stderr:\n%s", p.stderr.String())
			if out := p.stdout.String(); out != "" {
				t.Logf("mcpfleet stdout:\n%s", out)
			}
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for p.url == "" {
		for _, rec := range logRecords(p.stderr.String()) {
			if rec.message() == "cloudrun: serving" {
				addr, _ := rec["addr"].(string)
				_, port, err := net.SplitHostPort(addr)
				if err != nil {
					t.Fatalf("serving address %q: %v", addr, err)
				}
				p.url = "http://127.0.0.1:" + port
			}
		}
		select {
		case <-p.done:
			t.Fatalf("mcpfleet exited with %d before serving:\n%s", p.code, p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mcpfleet did not serve within 15s:\n%s", p.stderr.String())
		}
	}
	return p
}

// logRecord is one JSON log line of the binary.
type logRecord map[string]any

// message is the record's message: "message" in the Cloud Run and Lambda
// formats, "msg" in the local one.
func (r logRecord) message() string {
	if m, ok := r["message"].(string); ok {
		return m
	}
	m, _ := r["msg"].(string)
	return m
}

// logRecords parses the JSON lines of a log; other lines are skipped.
func logRecords(log string) []logRecord {
	var out []logRecord
	for _, line := range strings.Split(log, "\n") {
		var rec logRecord
		if json.Unmarshal([]byte(line), &rec) == nil && rec != nil {
			out = append(out, rec)
		}
	}
	return out
}

// countRecords counts the records with message msg whose attributes
// include every key/value of attrs.
func countRecords(log, msg string, attrs map[string]string) int {
	n := 0
	for _, rec := range logRecords(log) {
		if rec.message() != msg {
			continue
		}
		ok := true
		for k, v := range attrs {
			if got, _ := rec[k].(string); got != v {
				ok = false
			}
		}
		if ok {
			n++
		}
	}
	return n
}

func (p *proc) signal(s os.Signal) {
	if err := p.cmd.Process.Signal(s); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		p.t.Fatalf("mcpfleet still running after %v", timeout)
		return 0
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ---- raw MCP over HTTP ----

// sseEvent is an event of an SSE response body.
type sseEvent = ssetest.Event

// readSSE sends the events of an SSE body to out and closes it and the body
// at the end of the body.
func readSSE(body io.ReadCloser, out chan<- sseEvent) {
	defer close(out)
	defer body.Close()
	for ev := range ssetest.Stream(body) {
		out <- ev
	}
}

// rpcMsg is a JSON-RPC message as seen by a client.
type rpcMsg struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// rpcOf decodes the JSON-RPC message an event carries (zero if none).
func rpcOf(e sseEvent) rpcMsg {
	var m rpcMsg
	_ = json.Unmarshal([]byte(e.Data), &m)
	return m
}

// httpClient speaks MCP over raw HTTP: a legacy session (after initialize)
// or sessionless 2026-07-28 requests.
type httpClient struct {
	t   *testing.T
	url string // the /mcp endpoint
	sid string
}

func (c *httpClient) do(ctx context.Context, method, body string, hdr map[string]string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, c.url, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if c.sid != "" {
		req.Header.Set("Mcp-Session-Id", c.sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, c.url, err)
	}
	return resp
}

// stream POSTs body and returns its SSE events.
func (c *httpClient) stream(ctx context.Context, body string, hdr map[string]string) <-chan sseEvent {
	c.t.Helper()
	resp := c.do(ctx, "POST", body, hdr)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.t.Fatalf("POST %s: %s %s", body, resp.Status, b)
	}
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" {
		c.sid = sid
	}
	ch := make(chan sseEvent, 100)
	go readSSE(resp.Body, ch)
	return ch
}

// waitEvent returns the first event on ch that matches, within timeout.
func waitEvent(t *testing.T, ch <-chan sseEvent, what string, timeout time.Duration, match func(sseEvent) bool) sseEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended without %s", what)
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s within %v", what, timeout)
		}
	}
}

// result waits for the response to request id on ch.
func result(t *testing.T, ch <-chan sseEvent, id string, timeout time.Duration) rpcMsg {
	t.Helper()
	return rpcOf(waitEvent(t, ch, "response to "+id, timeout, func(ev sseEvent) bool { return string(rpcOf(ev).ID) == id }))
}

func isProgress(ev sseEvent) bool { return rpcOf(ev).Method == "notifications/progress" }

// rest returns the remaining events of ch, which must end within timeout.
func rest(t *testing.T, ch <-chan sseEvent, timeout time.Duration) []sseEvent {
	t.Helper()
	var evs []sseEvent
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-deadline:
			t.Fatalf("stream still open after %v", timeout)
		}
	}
}

// initialize opens a legacy session.
func (c *httpClient) initialize(ctx context.Context) {
	c.t.Helper()
	ch := c.stream(ctx, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw-test","version":"1"}}}`, nil)
	m := result(c.t, ch, "1", 10*time.Second)
	if m.Error != nil || !strings.Contains(string(m.Result), `"serverInfo"`) || c.sid == "" {
		c.t.Fatalf("initialize: %+v, session %q", m, c.sid)
	}
	resp := c.do(ctx, "POST", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		c.t.Fatalf("notifications/initialized: %s", resp.Status)
	}
}

func toolCall(id int, name, args string, progressToken string) string {
	meta := ""
	if progressToken != "" {
		meta = fmt.Sprintf(`,"_meta":{"progressToken":%q}`, progressToken)
	}
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s%s}}`, id, name, args, meta)
}

// sessionlessCall is a 2026-07-28 tools/call: protocol version, client info
// and capabilities travel in _meta; no session.
func sessionlessCall(id int, name, args, progressToken string) (string, map[string]string) {
	meta := `"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw-test","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}`
	if progressToken != "" {
		meta += fmt.Sprintf(`,"progressToken":%q`, progressToken)
	}
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s,"_meta":{%s}}}`, id, name, args, meta)
	return body, map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": name}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// waitStatus polls url until it answers want.
func waitStatus(t *testing.T, url string, want int, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, body := httpGet(t, url)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %q, want %d within %v", url, code, body, want, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---- tests ----

// TestBinaryServesAndDrains starts the binary with nothing but PORT, uses
// MCP over HTTP in both protocol eras, and sends SIGTERM while two long_task
// calls run: both tool calls run to completion and deliver their results on
// their own responses, and the process exits 0 within the grace period.
func TestBinaryServesAndDrains(t *testing.T) {
	p := startProc(t, fmt.Sprintf("PORT=%d", freePort(t)))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if code, body := httpGet(t, p.url+"/healthz"); code != 200 || body != "ok" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := httpGet(t, p.url+"/readyz"); code != 200 || body != "ready" {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	if code, _ := httpGet(t, p.url+"/other"); code != 404 {
		t.Fatalf("/other: %d", code)
	}
	hc := exec.Command(binary(t), "healthcheck", "-addr", strings.TrimPrefix(p.url, "http://"))
	if out, err := hc.CombinedOutput(); err != nil {
		t.Fatalf("healthcheck subcommand: %v %s", err, out)
	}

	// Legacy session: initialize, then a tool call.
	legacy := &httpClient{t: t, url: p.url + mcpPath}
	legacy.initialize(ctx)
	m := result(t, legacy.stream(ctx, toolCall(2, "convert_units", `{"value":10,"from":"km","to":"mi"}`, ""), nil), "2", 10*time.Second)
	if m.Error != nil || !strings.Contains(string(m.Result), "6.21371192237") {
		t.Fatalf("convert_units: %+v %s", m.Error, m.Result)
	}

	// Two long tasks (8 x 250ms), one per era; SIGTERM after their first
	// progress notifications.
	legacyEvents := legacy.stream(ctx, toolCall(3, "long_task", `{"steps":8,"step_ms":250}`, "L"), nil)
	sl := &httpClient{t: t, url: p.url + mcpPath}
	body, hdr := sessionlessCall(4, "long_task", `{"steps":8,"step_ms":250}`, "S")
	slEvents := sl.stream(ctx, body, hdr)
	for _, ch := range []<-chan sseEvent{legacyEvents, slEvents} {
		waitEvent(t, ch, "progress", 10*time.Second, isProgress)
	}
	p.signal(syscall.SIGTERM)
	sigterm := time.Now()

	// Sessionless: the response carries the result.
	m = result(t, slEvents, "4", 10*time.Second)
	if m.Error != nil || !strings.Contains(string(m.Result), "Completed 8 steps") {
		t.Fatalf("sessionless long_task after SIGTERM: %+v %s", m.Error, m.Result)
	}

	// Legacy: the call also completes on its own stream, with no retry
	// hint: there is nothing left to resume.
	m = result(t, legacyEvents, "3", 10*time.Second)
	if m.Error != nil || !strings.Contains(string(m.Result), "Completed 8 steps") {
		t.Fatalf("legacy long_task after SIGTERM: %+v %s", m.Error, m.Result)
	}

	if code := p.wait(12 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	took := time.Since(sigterm)
	logs := p.stderr.String()
	if n := countRecords(logs, "tool call", nil); n != 3 {
		t.Errorf("%d tool calls logged, want 3", n)
	}
	if n := countRecords(logs, "tool call", map[string]string{"tool": "long_task", "outcome": "ok"}); n != 2 {
		t.Errorf("%d long_task calls completed, want 2", n)
	}
	if countRecords(logs, "cloudrun: drained", nil) != 1 {
		t.Error("no drained log line")
	}
	if took > 10*time.Second {
		t.Errorf("drain took %v, longer than the 10s grace", took)
	}
	t.Logf("exited 0 %v after SIGTERM", took.Round(time.Millisecond))
}

// TestBinaryGraceExpired: a tool call longer than SHUTDOWN_GRACE makes the
// drain incomplete: exit code 1.
func TestBinaryGraceExpired(t *testing.T) {
	p := startProc(t, "MCP_ADDR=127.0.0.1:0", "SHUTDOWN_GRACE=1s")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &httpClient{t: t, url: p.url + mcpPath}
	body, hdr := sessionlessCall(1, "long_task", `{"steps":10,"step_ms":1000}`, "P")
	waitEvent(t, c.stream(ctx, body, hdr), "progress", 10*time.Second, isProgress)
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if !strings.Contains(p.stderr.String(), "grace period expired") {
		t.Error("the log does not say why")
	}
}

// TestBinaryInvalidEnvironment: every configuration problem is printed, the
// exit code is 2, and nothing is served.
func TestBinaryInvalidEnvironment(t *testing.T) {
	bin := binary(t)
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{
			name: "invalid configuration",
			env:  []string{"PORT=abc", "MCP_SESSION_TTL=-1", "LOG_LEVEL=loud", "REDIS_URL=http://redis:6379", "EXAMPLE_QUOTE_FAILURE_RATE=1.5"},
			want: []string{"invalid configuration (5 problems)", `PORT: "abc" is not an integer`, "MCP_SESSION_TTL:", "LOG_LEVEL:",
				"REDIS_URL: scheme", "EXAMPLE_QUOTE_FAILURE_RATE:"},
		},
		{name: "unknown argument", args: []string{"serve"}, want: []string{`unknown argument "serve"`, "usage:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, tc.args...)
			cmd.Env = tc.env
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit: %v, want status 2\n%s", err, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if strings.Contains(stderr.String(), "cloudrun: serving") || stdout.Len() != 0 {
				t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
			}
		})
	}
	// healthcheck against nothing: 1.
	port := freePort(t)
	if err := exec.Command(bin, "healthcheck", "-addr", fmt.Sprintf("127.0.0.1:%d", port), "-timeout", "2s").Run(); err == nil {
		t.Error("healthcheck against a closed port succeeded")
	} else if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("healthcheck: %v, want exit status 1", err)
	}
}
