//go:build e2e

package telemetry_test

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/mcpfleet/mcpfleet/telemetry"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestOTLPEndToEnd exports to a real collector: scripts/otel-e2e.sh starts
// one, points OTEL_EXPORTER_OTLP_ENDPOINT at it, runs this test and checks
// what the collector received. It serves an MCP server with both middleware
// over HTTP on loopback, drives it with go-sdk's client (initialize,
// tools/call, a failing tools/call) and flushes.
func TestOTLPEndToEnd(t *testing.T) {
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		t.Skip("OTEL_EXPORTER_OTLP_ENDPOINT is not set; run scripts/otel-e2e.sh")
	}
	ctx := context.Background()
	tel, err := telemetry.New(ctx, telemetry.Options{ServiceName: "mcpfleet-e2e", ServiceVersion: "e2e", LogWriter: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(tel, &mcp.ServerOptions{
		InitializedHandler: func(_ context.Context, req *mcp.InitializedRequest) { tel.TrackSession(req.Session) },
	})
	url := serveHTTP(t, tel, ts, false)
	cs := connectHTTP(t, url, "2025-11-25", map[string]string{"traceparent": traceparent})
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_weather", Arguments: map[string]any{"city": "Berlin"}}); err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "explode"}); err != nil || !res.IsError {
		t.Fatalf("CallTool explode: %v %+v", err, res)
	}
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	// Let the last HTTP request (DELETE) and the session end.
	time.Sleep(200 * time.Millisecond)
	http.DefaultClient.CloseIdleConnections()

	flushCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := tel.Flush(flushCtx); err != nil {
		t.Fatalf("Flush to the collector: %v", err)
	}
	if err := tel.Shutdown(flushCtx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	t.Logf("session %s exported to %s", cs.ID(), os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
}
