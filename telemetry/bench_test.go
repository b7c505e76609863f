package telemetry_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpfleet/mcpfleet/telemetry"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

const benchBody = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`

// BenchmarkRequest measures what telemetry adds to one MCP request over
// HTTP, in isolation: HTTPMiddleware around a handler that runs one
// tools/call through MCPMiddleware and writes a small SSE answer. Spans
// go to a discarding exporter, metrics to a manual reader, so the figures
// are the SDK's and this package's cost, not an exporter's.
//
//	go test -run '^$' -bench Request -benchmem ./telemetry/
func BenchmarkRequest(b *testing.B) {
	for _, mode := range []string{"disabled", "sampled"} {
		b.Run(mode, func(b *testing.B) {
			for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "K_SERVICE", "AWS_LAMBDA_FUNCTION_NAME", "OTEL_METRICS_EXEMPLAR_FILTER"} {
				b.Setenv(k, "")
			}
			if mode == "disabled" {
				b.Setenv("OTEL_SDK_DISABLED", "true")
			} else {
				b.Setenv("OTEL_TRACES_SAMPLER", "always_on")
			}
			tel, err := telemetry.New(context.Background(), telemetry.Options{
				ServiceName:  "bench",
				LogWriter:    io.Discard,
				SpanExporter: tracetest.NewNoopExporter(),
				MetricReader: sdkmetric.NewManualReader(),
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				tel.Shutdown(ctx)
			})
			call := tel.MCPMiddleware()(func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello"}}}, nil
			})
			h := tel.HTTPMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				var msg struct {
					Params *mcp.CallToolParamsRaw `json:"params"`
				}
				if err := json.Unmarshal(body, &msg); err != nil {
					b.Error(err)
				}
				req := &mcp.CallToolRequest{Params: msg.Params, Extra: &mcp.RequestExtra{Header: r.Header}}
				if _, err := call(r.Context(), "tools/call", req); err != nil {
					b.Error(err)
				}
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(http.StatusOK)
				io.WriteString(w, "event: message\ndata: {}\n\n")
				http.NewResponseController(w).Flush()
			}))
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(benchBody))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("Mcp-Session-Id", "s1")
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
