package telemetry_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpfleet/mcpfleet/telemetry"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
)

const (
	remoteTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	remoteSpanID  = "00f067aa0ba902b7"
	traceparent   = "00-" + remoteTraceID + "-" + remoteSpanID + "-01"
)

// versions are the protocol eras the tests run in: a session-based one
// (initialize) and the sessionless latest (server/discover).
var versions = []string{"2025-11-25", ""}

func TestMCPToolCall(t *testing.T) {
	for _, v := range versions {
		t.Run("version="+v, func(t *testing.T) { testMCPToolCall(t, v) })
	}
}

func testMCPToolCall(t *testing.T, version string) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{ServiceName: "svc"})
	ts := newTestServer(h.tel, nil)
	cs, _ := connectInMemory(t, ts, version)
	pv := negotiated(t, cs)
	ctx := context.Background()

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{
		Name:      "get_weather",
		Arguments: map[string]any{"city": "Paris", "api_key": "k-0123456789"},
	})
	if err != nil || res.IsError {
		t.Fatalf("CallTool: %v %+v", err, res)
	}

	s := h.span(t, "tools/call get_weather")
	if s.SpanKind != trace.SpanKindServer {
		t.Errorf("kind = %v, want server", s.SpanKind)
	}
	if s.Status.Code != codes.Unset {
		t.Errorf("status = %v, want unset", s.Status)
	}
	if s.Parent.IsValid() {
		t.Errorf("parent = %v, want a root span (no HTTP, no _meta)", s.Parent)
	}
	if got := ts.lastToolSpan(); got.SpanID() != s.SpanContext.SpanID() {
		t.Errorf("tool saw span %v in its context, want the server span %v", got.SpanID(), s.SpanContext.SpanID())
	}
	wantAttrs(t, s.Name, attrMap(s.Attributes), map[string]string{
		"mcp.method.name":            "tools/call",
		"gen_ai.tool.name":           "get_weather",
		"gen_ai.operation.name":      "execute_tool",
		"mcp.protocol.version":       pv,
		"error.type":                 "<absent>",
		"gen_ai.tool.call.arguments": "<absent>",
		"mcp.session.id":             "<absent>", // in-memory transports have no session ID
	})
	if s.InstrumentationScope.Name != telemetry.ScopeName {
		t.Errorf("scope = %q", s.InstrumentationScope.Name)
	}
	wantAttrs(t, "resource", attrMap(s.Resource.Attributes()), map[string]string{"service.name": "svc"})

	m := h.metric(t, "mcp.server.operation.duration")
	if m.Unit != "s" {
		t.Errorf("unit = %q, want s", m.Unit)
	}
	dp := histogramPoint(t, m, map[string]string{
		"mcp.method.name":       "tools/call",
		"gen_ai.tool.name":      "get_weather",
		"gen_ai.operation.name": "execute_tool",
		"mcp.protocol.version":  pv,
		"error.type":            "<absent>",
	})
	if dp.Count != 1 {
		t.Errorf("count = %d, want 1", dp.Count)
	}
	wantBuckets(t, m.Name, dp.Bounds)
	for _, kv := range dp.Attributes.ToSlice() {
		if kv.Key == "mcp.session.id" || kv.Key == "jsonrpc.request.id" {
			t.Errorf("high-cardinality attribute %s on the metric", kv.Key)
		}
	}
	// The handshake was measured too.
	handshake := "initialize"
	if version == "" {
		handshake = "server/discover"
	}
	histogramPoint(t, m, map[string]string{"mcp.method.name": handshake, "mcp.protocol.version": pv})
}

func TestMCPToolError(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{})
	cs, _ := connectInMemory(t, newTestServer(h.tel, nil), "")

	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "explode"})
	if err != nil || !res.IsError {
		t.Fatalf("CallTool: err %v, result %+v; want a tool error", err, res)
	}
	s := h.span(t, "tools/call explode")
	if s.Status.Code != codes.Error {
		t.Errorf("status = %v, want Error", s.Status)
	}
	wantAttrs(t, s.Name, attrMap(s.Attributes), map[string]string{
		"error.type":               "tool_error",
		"gen_ai.tool.name":         "explode",
		"rpc.response.status_code": "<absent>",
	})
	histogramPoint(t, h.metric(t, "mcp.server.operation.duration"), map[string]string{
		"mcp.method.name":  "tools/call",
		"gen_ai.tool.name": "explode",
		"error.type":       "tool_error",
	})
}

func TestMCPProtocolErrors(t *testing.T) {
	for _, v := range versions {
		t.Run("version="+v, func(t *testing.T) { testMCPProtocolErrors(t, v) })
	}
}

func testMCPProtocolErrors(t *testing.T, version string) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{})
	cs, _ := connectInMemory(t, newTestServer(h.tel, nil), version)
	ctx := context.Background()

	_, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///missing"})
	if err == nil {
		t.Fatal("ReadResource of a missing resource succeeded")
	}
	readCode := rpcCode(t, err)
	// A client-chosen tool name must not reach span names or metrics.
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "no-such-tool-4711"})
	if err == nil {
		t.Fatal("CallTool of an unknown tool succeeded")
	}
	callCode := rpcCode(t, err)

	spans := h.endedSpans(t)
	var read, call *int
	for i, s := range spans {
		switch s.Name {
		case "resources/read":
			read = &i
		case "tools/call":
			call = &i
		case "tools/call no-such-tool-4711":
			t.Errorf("span named after an unknown tool")
		}
	}
	if read == nil || call == nil {
		t.Fatalf("spans %v: want resources/read and tools/call", spanNames(spans))
	}
	rs := spans[*read]
	if rs.Status.Code != codes.Error || rs.Status.Description == "" {
		t.Errorf("resources/read status = %+v, want Error with the JSON-RPC message", rs.Status)
	}
	wantAttrs(t, "resources/read", attrMap(rs.Attributes), map[string]string{
		"mcp.method.name":          "resources/read",
		"mcp.resource.uri":         "file:///missing",
		"error.type":               readCode,
		"rpc.response.status_code": readCode,
	})
	cs2 := spans[*call]
	wantAttrs(t, "tools/call", attrMap(cs2.Attributes), map[string]string{
		"error.type":       callCode,
		"gen_ai.tool.name": "no-such-tool-4711", // on the span only
	})

	m := h.metric(t, "mcp.server.operation.duration")
	histogramPoint(t, m, map[string]string{
		"mcp.method.name":          "resources/read",
		"error.type":               readCode,
		"rpc.response.status_code": readCode,
		"mcp.resource.uri":         "<absent>", // opt-in on metrics: high cardinality
	})
	histogramPoint(t, m, map[string]string{"mcp.method.name": "tools/call", "error.type": callCode, "gen_ai.tool.name": "<absent>"})
}

func TestMCPResourceReadAndPrompt(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{})
	cs, _ := connectInMemory(t, newTestServer(h.tel, nil), "")
	ctx := context.Background()

	if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///readme.txt"}); err != nil {
		t.Fatalf("ReadResource: %v", err)
	}
	if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet"}); err != nil {
		t.Fatalf("GetPrompt: %v", err)
	}
	// The URI is an attribute, not part of the name (high cardinality).
	rs := h.span(t, "resources/read")
	if rs.SpanKind != trace.SpanKindServer || rs.Status.Code != codes.Unset {
		t.Errorf("resources/read: kind %v status %v", rs.SpanKind, rs.Status)
	}
	wantAttrs(t, rs.Name, attrMap(rs.Attributes), map[string]string{
		"mcp.method.name":       "resources/read",
		"mcp.resource.uri":      "file:///readme.txt",
		"gen_ai.operation.name": "<absent>",
		"error.type":            "<absent>",
	})
	ps := h.span(t, "prompts/get greet")
	wantAttrs(t, ps.Name, attrMap(ps.Attributes), map[string]string{"gen_ai.prompt.name": "greet"})

	m := h.metric(t, "mcp.server.operation.duration")
	histogramPoint(t, m, map[string]string{"mcp.method.name": "resources/read", "mcp.resource.uri": "<absent>"})
	histogramPoint(t, m, map[string]string{"mcp.method.name": "prompts/get", "gen_ai.prompt.name": "greet"})
}

func TestMCPParentFromMeta(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{})
	ts := newTestServer(h.tel, nil)
	cs, _ := connectInMemory(t, ts, "")

	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{
		Name:      "get_weather",
		Arguments: map[string]any{"city": "Oslo"},
		Meta:      mcp.Meta{"traceparent": traceparent, "tracestate": "rojo=00f067aa0ba902b7"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := h.span(t, "tools/call get_weather")
	if got := s.Parent.TraceID().String(); got != remoteTraceID {
		t.Errorf("trace = %s, want %s from params._meta", got, remoteTraceID)
	}
	if got := s.Parent.SpanID().String(); got != remoteSpanID {
		t.Errorf("parent = %s, want %s from params._meta", got, remoteSpanID)
	}
	if !s.Parent.IsRemote() {
		t.Error("parent is not remote")
	}
	if got := s.SpanContext.TraceState().Get("rojo"); got != remoteSpanID {
		t.Errorf("tracestate rojo = %q", got)
	}
	if ts.lastToolSpan().TraceID().String() != remoteTraceID {
		t.Error("the tool's context is not in the caller's trace")
	}
}

func TestMCPRecordArguments(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{RecordArguments: true})
	cs, _ := connectInMemory(t, newTestServer(h.tel, nil), "")
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{
		Name:      "get_weather",
		Arguments: map[string]any{"city": "Lima", "api_key": "k-0123456789"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := h.span(t, "tools/call get_weather")
	args := attrMap(s.Attributes)["gen_ai.tool.call.arguments"]
	if !strings.Contains(args, `"city":"Lima"`) || !strings.Contains(args, `"api_key":"[REDACTED]"`) {
		t.Errorf("gen_ai.tool.call.arguments = %s, want city and a redacted api_key", args)
	}
	if strings.Contains(args, "k-0123456789") {
		t.Error("secret argument recorded")
	}
}

func TestMCPSessionLifecycle(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{})
	var tel *telemetry.Telemetry = h.tel
	ts := newTestServer(tel, &mcp.ServerOptions{
		InitializedHandler: func(_ context.Context, req *mcp.InitializedRequest) { tel.TrackSession(req.Session) },
	})
	cs, ss := connectInMemory(t, ts, "2025-11-25")
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_weather", Arguments: map[string]any{"city": "Rome"}}); err != nil {
		t.Fatal(err)
	}
	// No session duration while the session lives.
	if m, ok := findMetric(h.collect(t), "mcp.server.session.duration"); ok {
		if hist := m.Data.(metricdata.Histogram[float64]); len(hist.DataPoints) > 0 {
			t.Fatalf("session duration recorded before the session ended: %+v", hist.DataPoints)
		}
	}
	time.Sleep(20 * time.Millisecond)
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	_ = ss.Wait()

	// TrackSession records from its own goroutine once Wait returns.
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, ok := findMetric(h.collect(t), "mcp.server.session.duration")
		if ok {
			if m.Unit != "s" {
				t.Errorf("unit = %q", m.Unit)
			}
			dp := histogramPoint(t, m, map[string]string{"mcp.protocol.version": "2025-11-25", "error.type": "<absent>"})
			if dp.Count != 1 || dp.Sum < 0.02 {
				t.Errorf("count %d sum %v, want one session of at least 20ms", dp.Count, dp.Sum)
			}
			wantBuckets(t, m.Name, dp.Bounds)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("mcp.server.session.duration not recorded after the session closed")
		}
		time.Sleep(10 * time.Millisecond)
	}

	names := spanNames(h.endedSpans(t))
	for _, want := range []string{"initialize", "notifications/initialized", "tools/call get_weather"} {
		if !slices.Contains(names, want) {
			t.Errorf("no span %q in %v", want, names)
		}
	}
}

// TestInjectMeta: what a client writes with InjectMeta is what the server
// middleware reads as the parent.
func TestInjectMeta(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{})
	ctx, client := h.tel.TracerProvider().Tracer("client").Start(context.Background(), "client op")
	meta := h.tel.InjectMeta(ctx, nil)
	if got, want := meta["traceparent"], "00-"+client.SpanContext().TraceID().String()+"-"+client.SpanContext().SpanID().String()+"-01"; got != want {
		t.Fatalf("traceparent %v, want %v", got, want)
	}
	cs, _ := connectInMemory(t, newTestServer(h.tel, nil), "")
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_weather", Arguments: map[string]any{"city": "Graz"}, Meta: meta}); err != nil {
		t.Fatal(err)
	}
	client.End()
	if s := h.span(t, "tools/call get_weather"); s.Parent.SpanID() != client.SpanContext().SpanID() {
		t.Errorf("parent %v, want the client span", s.Parent.SpanID())
	}
}
