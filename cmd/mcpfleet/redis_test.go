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

// TestBinaryFleetDrainAfterSIGTERM: two instances share Redis. A legacy
// long_task runs on A; A gets SIGTERM mid-call, finishes the call on its
// own stream within the grace period (no retry hint: nothing to resume) and
// exits 0; the session goes on on B.
func TestBinaryFleetDrainAfterSIGTERM(t *testing.T) {
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
			json.Unmarshal(rpcOf(ev).Params, &p)
			progress[p.Progress]++
		}
	}
	note(waitEvent(t, events, "progress", 10*time.Second, isProgress))
	a.signal(syscall.SIGTERM)

	var result *sseEvent
	for _, ev := range rest(t, events, 10*time.Second) {
		note(ev)
		if ev.Retry != "" {
			t.Fatalf("A released the stream of a call it could finish: %+v", ev)
		}
		if string(rpcOf(ev).ID) == "2" {
			ev := ev
			result = &ev
		}
	}
	if result == nil {
		t.Fatal("the call did not complete on A while draining")
	}
	if m := rpcOf(*result); m.Error != nil || !strings.Contains(string(m.Result), "Completed 6 steps") {
		t.Fatalf("result: %+v %s", m.Error, m.Result)
	}
	for i := 1; i <= 6; i++ {
		if progress[float64(i)] != 1 {
			t.Errorf("progress %d seen %d times (all: %v)", i, progress[float64(i)], progress)
		}
	}

	if code := a.wait(12 * time.Second); code != 0 {
		t.Fatalf("A exit code %d", code)
	}
	// The session lives in Redis: B serves it.
	c.url = b.url + mcpPath
	again := c.stream(ctx, toolCall(3, "long_task", `{"steps":1,"step_ms":10}`, "G"), nil)
	waitEvent(t, again, "the result on B", 10*time.Second, func(ev sseEvent) bool { return string(rpcOf(ev).ID) == "3" })
	b.signal(syscall.SIGTERM)
	if code := b.wait(12 * time.Second); code != 0 {
		t.Fatalf("B exit code %d", code)
	}
}
