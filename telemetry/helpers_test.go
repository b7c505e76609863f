package telemetry_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpfleet/mcpfleet/telemetry"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// clearOTelEnv makes the test independent of the OTEL_* and platform
// variables of the machine running it.
func clearOTelEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{
		"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_SERVICE_NAME",
		"OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
		"K_SERVICE", "K_REVISION", "AWS_LAMBDA_FUNCTION_NAME", "GOOGLE_CLOUD_PROJECT",
		"GCP_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT",
	} {
		t.Setenv(k, "")
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is a Telemetry with in-memory exporters.
type harness struct {
	tel    *telemetry.Telemetry
	spans  *tracetest.InMemoryExporter
	reader *sdkmetric.ManualReader
	logs   *syncBuffer
}

func newHarness(t *testing.T, opts telemetry.Options) *harness {
	t.Helper()
	h := &harness{
		spans:  tracetest.NewInMemoryExporter(),
		reader: sdkmetric.NewManualReader(),
		logs:   &syncBuffer{},
	}
	opts.SpanExporter = h.spans
	opts.MetricReader = h.reader
	if opts.LogWriter == nil {
		opts.LogWriter = h.logs
	}
	tel, err := telemetry.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(ctx)
	})
	h.tel = tel
	return h
}

// endedSpans flushes and returns the spans ended so far.
func (h *harness) endedSpans(t *testing.T) tracetest.SpanStubs {
	t.Helper()
	if err := h.tel.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return h.spans.GetSpans()
}

// waitSpans flushes until ok accepts the ended spans, for spans that end
// after the client has its answer (an HTTP server span ends when the
// handler returns, after the response has been sent).
func (h *harness) waitSpans(t *testing.T, what string, ok func(tracetest.SpanStubs) bool) tracetest.SpanStubs {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		spans := h.endedSpans(t)
		if ok(spans) {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; spans %v", what, spanNames(spans))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// span returns the only span named name.
func (h *harness) span(t *testing.T, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	spans := h.endedSpans(t)
	for _, s := range spans {
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans named %q, want 1; spans: %v", len(found), name, spanNames(spans))
	}
	return found[0]
}

func spanNames(spans tracetest.SpanStubs) []string {
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
	}
	return names
}

func (h *harness) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return rm
}

// findMetric returns the metric named name, or false.
func findMetric(rm metricdata.ResourceMetrics, name string) (metricdata.Metrics, bool) {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

func (h *harness) metric(t *testing.T, name string) metricdata.Metrics {
	t.Helper()
	m, ok := findMetric(h.collect(t), name)
	if !ok {
		t.Fatalf("no metric %q", name)
	}
	return m
}

// attrMap renders a set of attributes as strings for comparisons.
func attrMap(kvs []attribute.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// wantAttrs fails unless got has every key of want with its value; a want
// value of "<absent>" requires the key to be missing.
func wantAttrs(t *testing.T, what string, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k]
		switch {
		case v == "<absent>" && ok:
			t.Errorf("%s: attribute %s = %q, want absent", what, k, g)
		case v != "<absent>" && !ok:
			t.Errorf("%s: attribute %s missing, want %q (have %v)", what, k, v, got)
		case v != "<absent>" && g != v:
			t.Errorf("%s: attribute %s = %q, want %q", what, k, g, v)
		}
	}
}

// histogramPoint returns the data point of the float64 histogram m whose
// attributes include match.
func histogramPoint(t *testing.T, m metricdata.Metrics, match map[string]string) metricdata.HistogramDataPoint[float64] {
	t.Helper()
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s: data is %T, want Histogram[float64]", m.Name, m.Data)
	}
	var all []map[string]string
	for _, dp := range h.DataPoints {
		got := attrMap(dp.Attributes.ToSlice())
		all = append(all, got)
		if matches(got, match) {
			return dp
		}
	}
	t.Fatalf("%s: no data point with %v; have %v", m.Name, match, all)
	return metricdata.HistogramDataPoint[float64]{}
}

func matches(got, match map[string]string) bool {
	for k, v := range match {
		g, ok := got[k]
		if v == "<absent>" {
			if ok {
				return false
			}
			continue
		}
		if !ok || g != v {
			return false
		}
	}
	return true
}

// mcpBuckets are the bucket boundaries the MCP conventions specify.
var mcpBuckets = []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}

func wantBuckets(t *testing.T, name string, got []float64) {
	t.Helper()
	if !slices.Equal(got, mcpBuckets) {
		t.Errorf("%s bounds = %v, want %v", name, got, mcpBuckets)
	}
}

// testServer is an MCP server with a tool that succeeds, one that fails, a
// prompt and a resource. get_weather reports the span it sees in ctx.
type testServer struct {
	server   *mcp.Server
	mu       sync.Mutex
	toolSpan trace.SpanContext
}

type weatherIn struct {
	City   string `json:"city"`
	APIKey string `json:"api_key,omitempty"`
}

type weatherOut struct {
	Forecast string `json:"forecast"`
}

func newTestServer(tel *telemetry.Telemetry, opts *mcp.ServerOptions) *testServer {
	ts := &testServer{server: mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1.0.0"}, opts)}
	mcp.AddTool(ts.server, &mcp.Tool{Name: "get_weather", Description: "forecast"},
		func(ctx context.Context, req *mcp.CallToolRequest, in weatherIn) (*mcp.CallToolResult, weatherOut, error) {
			ts.mu.Lock()
			ts.toolSpan = trace.SpanFromContext(ctx).SpanContext()
			ts.mu.Unlock()
			tel.Logger().InfoContext(ctx, "forecasting", "city", in.City)
			return nil, weatherOut{Forecast: "sunny in " + in.City}, nil
		})
	mcp.AddTool(ts.server, &mcp.Tool{Name: "explode", Description: "always fails"},
		func(ctx context.Context, req *mcp.CallToolRequest, in struct{}) (*mcp.CallToolResult, any, error) {
			return nil, nil, errors.New("boom")
		})
	ts.server.AddPrompt(&mcp.Prompt{Name: "greet"}, func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}}}, nil
	})
	ts.server.AddResource(&mcp.Resource{URI: "file:///readme.txt", Name: "readme", MIMEType: "text/plain"},
		func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "hello"}}}, nil
		})
	ts.server.AddReceivingMiddleware(tel.MCPMiddleware())
	return ts
}

func (ts *testServer) lastToolSpan() trace.SpanContext {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.toolSpan
}

// connectInMemory connects a client to ts over go-sdk's in-memory
// transports, asking for protocol version (the latest when empty).
func connectInMemory(t *testing.T, ts *testServer, version string) (*mcp.ClientSession, *mcp.ServerSession) {
	t.Helper()
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := ts.server.Connect(ctx, st, nil)
	if err != nil {
		t.Fatalf("server Connect: %v", err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "0.0.1"}, nil)
	cs, err := client.Connect(ctx, ct, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("client Connect: %v", err)
	}
	t.Cleanup(func() {
		_ = cs.Close()
		_ = ss.Wait()
	})
	return cs, ss
}

// negotiated returns the protocol version of cs.
func negotiated(t *testing.T, cs *mcp.ClientSession) string {
	t.Helper()
	r := cs.InitializeResult()
	if r == nil || r.ProtocolVersion == "" {
		t.Fatal("no negotiated protocol version")
	}
	return r.ProtocolVersion
}

// rpcCode returns the JSON-RPC error code of err as a string.
func rpcCode(t *testing.T, err error) string {
	t.Helper()
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) {
		t.Fatalf("error %v (%T) is not a JSON-RPC error", err, err)
	}
	return strconv.FormatInt(werr.Code, 10)
}

func contains(s string, subs ...string) []string {
	var found []string
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			found = append(found, sub)
		}
	}
	return found
}
