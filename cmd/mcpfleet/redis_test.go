package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpfleet/mcpfleet/internal/redistest"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// healthOverHTTP calls the health tool with go-sdk's client (2026-07-28,
// sessionless: it needs no state store).
func healthOverHTTP(t *testing.T, url string) healthReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "health-test", Version: "1"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url + mcpPath, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "health"})
	if err != nil || res.IsError {
		t.Fatalf("health: %v %v", err, res)
	}
	var rep healthReport
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestBinaryReadinessFollowsRedis: with Redis stopped /readyz answers 503
// (Cloud Run stops routing) while /healthz stays 200 (no restart loop), the
// health tool reports the store unreachable; after Redis restarts, the
// instance is ready again by itself.
func TestBinaryReadinessFollowsRedis(t *testing.T) {
	rs := redistest.Start(t)
	p := startProc(t, "MCP_ADDR=127.0.0.1:0", "REDIS_URL="+rs.URL())

	waitStatus(t, p.url+"/readyz", http.StatusOK, 10*time.Second)
	if rep := healthOverHTTP(t, p.url); rep.Status != "healthy" || !rep.StateStore.Reachable || rep.StateStore.Kind != "redis" {
		t.Fatalf("with Redis up: %+v", rep)
	}

	rs.Stop()
	body := waitStatus(t, p.url+"/readyz", http.StatusServiceUnavailable, 10*time.Second)
	if !strings.HasPrefix(body, "not ready") {
		t.Errorf("/readyz body %q", body)
	}
	if code, _ := httpGet(t, p.url+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with Redis down: %d, want 200", code)
	}
	rep := healthOverHTTP(t, p.url)
	if rep.Status != "degraded" || rep.StateStore.Reachable || len(rep.Reasons) == 0 {
		t.Fatalf("with Redis down: %+v", rep)
	}

	rs.Restart()
	waitStatus(t, p.url+"/readyz", http.StatusOK, 15*time.Second)
	if rep := healthOverHTTP(t, p.url); rep.Status != "healthy" || !rep.StateStore.Reachable {
		t.Fatalf("after Redis restarted: %+v", rep)
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(12 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestBinaryFleetResumesAfterSIGTERM: two instances share Redis. A legacy
// long_task runs on A; A gets SIGTERM mid-call and releases the stream with
// a retry hint; the client resumes the stream on B (Last-Event-ID) and gets
// the remaining progress and the result, which A produced while draining.
// A exits 0.
func TestBinaryFleetResumesAfterSIGTERM(t *testing.T) {
	rs := redistest.Start(t)
	env := []string{"MCP_ADDR=127.0.0.1:0", "REDIS_URL=" + rs.URL()}
	a := startProc(t, env...)
	b := startProc(t, env...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	c := &httpClient{t: t, url: a.url + mcpPath}
	c.initialize(ctx)
	events := c.stream(ctx, toolCall(2, "long_task", `{"steps":6,"step_ms":300}`, "F"), nil)
	progress := map[float64]int{}
	note := func(ev sseEvent) {
		if isProgress(ev) {
			var p struct{ Progress float64 }
			json.Unmarshal(ev.msg().Params, &p)
			progress[p.Progress]++
		}
	}
	first := waitEvent(t, events, "progress", 10*time.Second, isProgress)
	note(first)
	lastID := first.id
	a.signal(syscall.SIGTERM)

	sawRetry := false
	for _, ev := range rest(t, events, 5*time.Second) {
		note(ev)
		if ev.id != "" {
			lastID = ev.id
		}
		if ev.retry != "" {
			sawRetry = true
		}
		if string(ev.msg().ID) == "2" {
			t.Fatal("the call finished on A before the stream was released; make the task longer")
		}
	}
	if !sawRetry {
		t.Fatal("A ended the stream without a retry hint")
	}

	// Resume on B.
	c.url = b.url + mcpPath
	resp := c.do(ctx, "GET", "", map[string]string{"Last-Event-ID": lastID})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET with Last-Event-ID on B: %s", resp.Status)
	}
	resumed := make(chan sseEvent, 100)
	go readSSE(resp.Body, resumed)
	m := waitEvent(t, resumed, "the result", 15*time.Second, func(ev sseEvent) bool {
		note(ev)
		return string(ev.msg().ID) == "2"
	}).msg()
	if m.Error != nil || !strings.Contains(string(m.Result), "Completed 6 steps") {
		t.Fatalf("resumed result: %+v %s", m.Error, m.Result)
	}
	for i := 1; i <= 6; i++ {
		if progress[float64(i)] != 1 {
			t.Errorf("progress %d seen %d times (all: %v)", i, progress[float64(i)], progress)
		}
	}

	if code := a.wait(12 * time.Second); code != 0 {
		t.Fatalf("A exit code %d", code)
	}
	b.signal(syscall.SIGTERM)
	if code := b.wait(12 * time.Second); code != 0 {
		t.Fatalf("B exit code %d", code)
	}
}
