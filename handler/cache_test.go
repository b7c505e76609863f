package handler_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpfleet/mcpfleet/handler"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestSessionCache: with Redis, an instance that served a session reuses
// its record, so repeated requests cost no store round trip while the
// session did not change; a change or a DELETE on one instance is seen by
// the very next request on any other.
func TestSessionCache(t *testing.T) {
	m := []*fakeMetrics{newFakeMetrics(), newFakeMetrics(), newFakeMetrics()}
	f := newFleet(t, fleetOptions{redis: true, metrics: []handler.Metrics{m[0], m[1], m[2]}, cacheTTL: time.Minute})
	loads := func() (n int) {
		for _, fm := range m {
			_, _, _, ops, _, _ := fm.snapshot()
			n += ops["load_session"]
		}
		return n
	}

	cs, tc := connect(t, f.url, "2025-11-25")
	for i := range 6 { // twice per instance
		callText(t, cs, "echo", map[string]any{"text": fmt.Sprint(i)})
	}
	before := loads()
	for i := range 30 {
		callText(t, cs, "echo", map[string]any{"text": fmt.Sprint(i)})
	}
	if n := loads() - before; n != 0 {
		t.Errorf("%d session loads for 30 calls of an unchanged session; want 0 (cached)", n)
	}

	// A change on one instance, then at once a request on each other one:
	// the new log level applies everywhere.
	ctx := context.Background()
	for i, level := range []mcp.LoggingLevel{"error", "debug", "error", "debug", "error", "debug"} {
		if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: level}); err != nil {
			t.Fatal(err)
		}
		callText(t, cs, "detach", map[string]any{"text": fmt.Sprint("log ", i)})
		if level == "debug" {
			if got := receive(t, tc.logs, "an info log at level debug"); got != fmt.Sprint("log ", i) {
				t.Errorf("log %q", got)
			}
		} else {
			select {
			case got := <-tc.logs:
				t.Errorf("info log %q delivered at level error: a stale cached level", got)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	// DELETE on one instance, then at once a request on the next: 404.
	for i := range 10 {
		c := &rawClient{t: t, url: f.url}
		c.initialize()
		for range 3 { // every instance caches the session
			io.Copy(io.Discard, c.do("POST", `{"jsonrpc":"2.0","id":2,"method":"ping"}`, nil).Body)
		}
		if resp := c.do("DELETE", "", map[string]string{"Content-Type": ""}); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE: %d", resp.StatusCode)
		}
		for j := range 3 {
			resp := c.do("POST", `{"jsonrpc":"2.0","id":3,"method":"ping"}`, nil)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("round %d, instance %d after DELETE: %d %s", i, j, resp.StatusCode, strings.TrimSpace(string(b)))
			}
		}
	}
}
