package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/mcpfleet/mcpfleet/telemetry"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// headerTransport adds headers to every request.
type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.headers {
		r.Header.Set(k, v)
	}
	return h.base.RoundTrip(r)
}

// serveHTTP serves ts with go-sdk's streamable handler behind
// HTTPMiddleware on a loopback port, at /mcp of a ServeMux.
func serveHTTP(t *testing.T, tel *telemetry.Telemetry, ts *testServer, stateless bool) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return ts.server },
		&mcp.StreamableHTTPOptions{Stateless: stateless}))
	srv := httptest.NewServer(tel.HTTPMiddleware(mux))
	t.Cleanup(srv.Close)
	return srv.URL + "/mcp"
}

func connectHTTP(t *testing.T, url, version string, headers map[string]string) *mcp.ClientSession {
	t.Helper()
	hc := &http.Client{Transport: headerTransport{base: http.DefaultTransport, headers: headers}}
	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "0.0.1"}, nil)
	cs, err := client.Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: -1, DisableStandaloneSSE: true},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func httpServerSpans(spans tracetest.SpanStubs) map[trace.SpanID]tracetest.SpanStub {
	out := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range spans {
		if s.InstrumentationScope.Name == "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp" {
			out[s.SpanContext.SpanID()] = s
		}
	}
	return out
}

// TestHTTPTraceparent sends a W3C traceparent header with every HTTP request
// and checks: the HTTP server span is its child, the MCP span is the child
// of the HTTP span of the very request that carried the message (also with
// go-sdk's stateful handler, which runs the session under the context of
// the initialize request), and carries the session ID, the JSON-RPC ID and
// the transport.
func TestHTTPTraceparent(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stateless bool
		version   string
	}{
		{"stateful 2025-11-25", false, "2025-11-25"},
		{"stateless 2025-06-18", true, "2025-06-18"},
		{"stateless latest", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearOTelEnv(t)
			h := newHarness(t, telemetry.Options{})
			ts := newTestServer(h.tel, nil)
			url := serveHTTP(t, h.tel, ts, tc.stateless)
			cs := connectHTTP(t, url, tc.version, map[string]string{"traceparent": traceparent})

			if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_weather", Arguments: map[string]any{"city": "Kyiv"}}); err != nil {
				t.Fatalf("CallTool: %v", err)
			}
			s := h.span(t, "tools/call get_weather")
			// Every HTTP span ends after its response was sent: wait for the
			// one of tools/call and for at least one earlier request's.
			spans := h.waitSpans(t, "the HTTP spans of tools/call and an earlier request", func(spans tracetest.SpanStubs) bool {
				hs := httpServerSpans(spans)
				_, ok := hs[s.Parent.SpanID()]
				return ok && len(hs) >= 2
			})
			httpSpans := httpServerSpans(spans)
			if len(httpSpans) < 2 {
				t.Fatalf("%d HTTP spans, want one per request; spans %v", len(httpSpans), spanNames(spans))
			}
			for _, hs := range httpSpans {
				if hs.SpanKind != trace.SpanKindServer || hs.Parent.SpanID().String() != remoteSpanID || !hs.Parent.IsRemote() {
					t.Errorf("HTTP span %q: kind %v parent %v, want server child of the traceparent header", hs.Name, hs.SpanKind, hs.Parent)
				}
				if hs.Name != "POST /mcp" && hs.Name != "GET /mcp" && hs.Name != "DELETE /mcp" {
					t.Errorf("HTTP span name %q, want METHOD /mcp", hs.Name)
				}
			}

			parent, ok := httpSpans[s.Parent.SpanID()]
			if !ok {
				t.Fatalf("tools/call parent %v is not an HTTP span", s.Parent)
			}
			if s.SpanContext.TraceID().String() != remoteTraceID {
				t.Errorf("trace %v, want %s", s.SpanContext.TraceID(), remoteTraceID)
			}
			if parent.StartTime.After(s.StartTime) || parent.EndTime.Before(s.EndTime) {
				t.Errorf("tools/call [%v, %v] is not within its parent HTTP span [%v, %v]: wrong request",
					s.StartTime, s.EndTime, parent.StartTime, parent.EndTime)
			}
			want := map[string]string{
				"mcp.method.name":          "tools/call",
				"jsonrpc.request.id":       "<present>",
				"network.transport":        "tcp",
				"network.protocol.name":    "http",
				"network.protocol.version": "1.1",
				"mcp.protocol.version":     negotiated(t, cs),
			}
			got := attrMap(s.Attributes)
			if got["jsonrpc.request.id"] == "" {
				t.Errorf("no jsonrpc.request.id: %v", got)
			}
			delete(want, "jsonrpc.request.id")
			if cs.ID() != "" {
				want["mcp.session.id"] = cs.ID()
			} else {
				want["mcp.session.id"] = "<absent>"
			}
			wantAttrs(t, s.Name, got, want)
			if !tc.stateless && cs.ID() == "" {
				t.Error("stateful session has no ID")
			}
			if ts.lastToolSpan().SpanID() != s.SpanContext.SpanID() {
				t.Error("the tool did not see the MCP span in its context")
			}

			// The HTTP metrics come from otelhttp.
			h.metric(t, "http.server.request.duration")
			histogramPoint(t, h.metric(t, "mcp.server.operation.duration"), map[string]string{
				"mcp.method.name": "tools/call", "network.transport": "tcp", "network.protocol.name": "http",
			})
		})
	}
}

// TestHTTPMetaParentLinksHTTP: with trace context in params._meta the MCP
// span's parent is the _meta context and it links the HTTP span.
func TestHTTPMetaParentLinksHTTP(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{})
	ts := newTestServer(h.tel, nil)
	url := serveHTTP(t, h.tel, ts, false)
	cs := connectHTTP(t, url, "2025-11-25", nil)

	const metaTrace = "0af7651916cd43dd8448eb211c80319c"
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{
		Name:      "get_weather",
		Arguments: map[string]any{"city": "Quito"},
		Meta:      mcp.Meta{"traceparent": "00-" + metaTrace + "-b7ad6b7169203331-01"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := h.span(t, "tools/call get_weather")
	if s.Parent.TraceID().String() != metaTrace || s.Parent.SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("parent %v, want the _meta traceparent", s.Parent)
	}
	if len(s.Links) != 1 {
		t.Fatalf("links %v, want one to the HTTP span", s.Links)
	}
	h.waitSpans(t, "the linked HTTP span", func(spans tracetest.SpanStubs) bool {
		_, ok := httpServerSpans(spans)[s.Links[0].SpanContext.SpanID()]
		return ok
	})
}

// TestHTTPLambdaInvocation: on Lambda, the HTTP span names the invocation
// (faas.invocation_id, aws.lambda.invoked_arn) and links to its X-Ray trace.
func TestHTTPLambdaInvocation(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{Platform: telemetry.PlatformLambda})
	mw := h.tel.HTTPMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
		AwsRequestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd", InvokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:mcpfleet"})
	ctx = context.WithValue(ctx, "x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1") //nolint:staticcheck // aws-lambda-go's key
	mw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(ctx, "GET", "/mcp", nil))
	spans := h.waitSpans(t, "the HTTP span", func(spans tracetest.SpanStubs) bool { return len(httpServerSpans(spans)) == 1 })
	for _, s := range httpServerSpans(spans) {
		attrs := map[string]string{}
		for _, kv := range s.Attributes {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		if attrs["faas.invocation_id"] != "8476a536-e9f4-11e8-9739-2dfe598c3fcd" || attrs["aws.lambda.invoked_arn"] != "arn:aws:lambda:eu-west-1:123456789012:function:mcpfleet" || attrs["faas.trigger"] != "http" {
			t.Errorf("attributes %v", attrs)
		}
		if len(s.Links) != 1 || s.Links[0].SpanContext.TraceID().String() != "5759e988bd862e3fe1be46a994272793" || s.Links[0].SpanContext.SpanID().String() != "53995c3f42cd8ad8" || !s.Links[0].SpanContext.IsSampled() {
			t.Errorf("links %+v, want the X-Ray trace", s.Links)
		}
	}
}
