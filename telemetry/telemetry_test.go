package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpfleet/mcpfleet/internal/redistest"
	"github.com/mcpfleet/mcpfleet/telemetry"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
)

// blackhole listens on loopback and never answers: a collector that
// accepts connections and then hangs.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// TestUnreachableCollector: New returns at once and Flush/Shutdown give up
// at their context's deadline when the OTLP endpoint hangs, over HTTP and
// gRPC.
func TestUnreachableCollector(t *testing.T) {
	for _, proto := range []string{"http/protobuf", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			clearOTelEnv(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+blackhole(t))
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", proto)
			start := time.Now()
			tel, err := telemetry.New(context.Background(), telemetry.Options{LogWriter: &syncBuffer{}})
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("New took %v", d)
			}
			_, span := tel.TracerProvider().Tracer("t").Start(context.Background(), "op")
			span.End()

			for _, step := range []struct {
				name string
				f    func(context.Context) error
			}{{"Flush", tel.Flush}, {"Shutdown", tel.Shutdown}} {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				start = time.Now()
				_ = step.f(ctx) // an error is expected
				cancel()
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("%s took %v with a 300ms deadline", step.name, d)
				}
			}
		})
	}
}

func TestSDKDisabled(t *testing.T) {
	clearOTelEnv(t)
	t.Setenv("OTEL_SDK_DISABLED", "true")
	h := newHarness(t, telemetry.Options{LogFormat: "json"})
	cs, _ := connectInMemory(t, newTestServer(h.tel, nil), "")
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{
		Name: "get_weather", Arguments: map[string]any{"city": "Bern"},
		Meta: mcp.Meta{"traceparent": traceparent},
	}); err != nil {
		t.Fatal(err)
	}
	if spans := h.endedSpans(t); len(spans) != 0 {
		t.Errorf("spans exported with OTEL_SDK_DISABLED: %v", spanNames(spans))
	}
	if _, ok := h.tel.TracerProvider().Tracer("x").Start(context.Background(), "x"); ok.IsRecording() {
		t.Error("recording span with OTEL_SDK_DISABLED")
	}
	if err := h.tel.InstrumentRedis(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})); err != nil {
		t.Error(err)
	}
	// Logs still name the caller's trace.
	if !strings.Contains(h.logs.String(), `"trace_id":"`+remoteTraceID+`"`) {
		t.Errorf("log lines without the incoming trace: %s", h.logs.String())
	}
}

func TestPlatformResource(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		platform string
		want     map[string]string
	}{
		{"cloudrun", map[string]string{"K_SERVICE": "mcp", "K_REVISION": "mcp-00042-abc", "GOOGLE_CLOUD_PROJECT": "proj-1"},
			telemetry.PlatformCloudRun, map[string]string{
				"cloud.provider": "gcp", "cloud.platform": "gcp_cloud_run", "faas.name": "mcp",
				"faas.version": "mcp-00042-abc", "cloud.account.id": "proj-1", "service.name": "svc",
			}},
		{"lambda", map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": "eu-west-1",
			"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512", "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/02/[$LATEST]abc"},
			telemetry.PlatformLambda, map[string]string{
				"cloud.provider": "aws", "cloud.platform": "aws_lambda", "faas.name": "fn", "faas.version": "$LATEST",
				"cloud.region": "eu-west-1", "faas.max_memory": "536870912", "faas.instance": "2026/01/02/[$LATEST]abc",
			}},
		{"local, env overrides", map[string]string{"OTEL_SERVICE_NAME": "from-env", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test"},
			telemetry.PlatformLocal, map[string]string{
				"service.name": "from-env", "service.version": "1.2.3", "deployment.environment.name": "test",
				"cloud.provider": "<absent>", "telemetry.sdk.language": "go",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearOTelEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			h := newHarness(t, telemetry.Options{Platform: "", ServiceName: "svc", ServiceVersion: "1.2.3"})
			if h.tel.Platform() != tc.platform {
				t.Errorf("platform %q, want %q", h.tel.Platform(), tc.platform)
			}
			_, span := h.tel.TracerProvider().Tracer("t").Start(context.Background(), "op")
			span.End()
			s := h.span(t, "op")
			got := attrMap(s.Resource.Attributes())
			wantAttrs(t, "resource", got, tc.want)
			if got["service.instance.id"] == "" {
				t.Error("no service.instance.id")
			}
		})
	}
}

func TestOperatorMetrics(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{})
	m := h.tel.Metrics()
	ctx := context.Background()

	closeA := m.StreamOpened(ctx)
	closeB := m.StreamOpened(ctx)
	closeA()
	closeA() // no effect
	m.Delivered(ctx, telemetry.DeliveryResponseForwarded, 1)
	m.Delivered(ctx, telemetry.DeliveryEventReplayed, 3)
	m.Delivered(ctx, telemetry.DeliveryEventReplayed, 2)
	m.StoreOp(ctx, "load_session")(nil)
	m.StoreOp(ctx, "load_session")(fmt.Errorf("load: %w", context.DeadlineExceeded))
	m.StoreOp(ctx, "append_events")(fmt.Errorf("append: %w", &net.OpError{Op: "dial", Err: errors.New("refused")}))
	m.SessionEnded(ctx, 90*time.Second, "2025-06-18", "")

	rm := h.collect(t)
	get := func(name string) metricdata.Metrics {
		mm, ok := findMetric(rm, name)
		if !ok {
			t.Fatalf("no metric %s", name)
		}
		return mm
	}
	streams := get(telemetry.MetricActiveStreams)
	if sum, ok := streams.Data.(metricdata.Sum[int64]); !ok || sum.IsMonotonic || len(sum.DataPoints) != 1 || sum.DataPoints[0].Value != 1 || streams.Unit != "{stream}" {
		t.Errorf("%s = %+v (unit %q), want a non-monotonic sum of 1", streams.Name, streams.Data, streams.Unit)
	}
	_ = closeB

	deliveries := get(telemetry.MetricDeliveries)
	byKind := map[string]int64{}
	for _, dp := range deliveries.Data.(metricdata.Sum[int64]).DataPoints {
		byKind[attrMap(dp.Attributes.ToSlice())["mcpfleet.delivery.kind"]] = dp.Value
	}
	if byKind["response_forwarded"] != 1 || byKind["event_replayed"] != 5 || deliveries.Unit != "{message}" {
		t.Errorf("deliveries %v unit %q", byKind, deliveries.Unit)
	}

	errs := get(telemetry.MetricStoreErrors)
	byOp := map[string]int64{}
	for _, dp := range errs.Data.(metricdata.Sum[int64]).DataPoints {
		a := attrMap(dp.Attributes.ToSlice())
		byOp[a["mcpfleet.store.operation"]+" "+a["error.type"]] = dp.Value
	}
	if byOp["load_session timeout"] != 1 || byOp["append_events *net.OpError"] != 1 || len(byOp) != 2 {
		t.Errorf("store errors %v", byOp)
	}

	dur := get(telemetry.MetricStoreDuration)
	if dur.Unit != "s" {
		t.Errorf("unit %q", dur.Unit)
	}
	if dp := histogramPoint(t, dur, map[string]string{"mcpfleet.store.operation": "load_session", "error.type": "<absent>"}); dp.Count != 1 {
		t.Errorf("count %d", dp.Count)
	}
	histogramPoint(t, dur, map[string]string{"mcpfleet.store.operation": "load_session", "error.type": "timeout"})

	sess := get("mcp.server.session.duration")
	dp := histogramPoint(t, sess, map[string]string{"mcp.protocol.version": "2025-06-18"})
	if dp.Sum != 90 {
		t.Errorf("session sum %v", dp.Sum)
	}
	wantBuckets(t, sess.Name, dp.Bounds)

	// A nil *Metrics records nothing and does not panic.
	var nilM *telemetry.Metrics
	nilM.StreamOpened(ctx)()
	nilM.Delivered(ctx, telemetry.DeliveryCancelForwarded, 1)
	nilM.StoreOp(ctx, "x")(errors.New("x"))
	nilM.SessionEnded(ctx, time.Second, "", "")
}

// TestLambdaFlushesEachRequest: on Lambda the spans of a request are
// exported before its response is complete, without a Flush call.
func TestLambdaFlushesEachRequest(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{Platform: telemetry.PlatformLambda})
	srv := httptest.NewServer(h.tel.HTTPMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, span := h.tel.TracerProvider().Tracer("t").Start(r.Context(), "work")
		span.End()
		w.WriteHeader(http.StatusNoContent)
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	spans := h.spans.GetSpans() // no Flush
	if len(spans) != 2 {
		t.Fatalf("spans %v, want the HTTP span and its child exported", spanNames(spans))
	}
}

func TestInstrumentRedis(t *testing.T) {
	clearOTelEnv(t)
	rs := redistest.Start(t)
	h := newHarness(t, telemetry.Options{})
	client := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer client.Close()
	if err := h.tel.InstrumentRedis(client); err != nil {
		t.Fatal(err)
	}
	ctx, parent := h.tel.TracerProvider().Tracer("t").Start(context.Background(), "handler")
	if err := client.Set(ctx, "k", "session-payload-secret", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	parent.End()

	var set *trace.SpanContext
	for _, s := range h.endedSpans(t) {
		if s.Name == "set" {
			sc := s.Parent
			set = &sc
			if s.SpanKind != trace.SpanKindClient {
				t.Errorf("set span kind %v", s.SpanKind)
			}
			for _, kv := range s.Attributes {
				if strings.Contains(kv.Value.Emit(), "session-payload-secret") {
					t.Errorf("command argument recorded in %s", kv.Key)
				}
			}
		}
	}
	if set == nil || set.SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("no redis span under the handler span (parent %v)", set)
	}
	rm := h.collect(t)
	found := false
	for _, sm := range rm.ScopeMetrics {
		if strings.Contains(sm.Scope.Name, "redisotel") && len(sm.Metrics) > 0 {
			found = true
		}
	}
	if !found {
		t.Error("no redisotel metrics")
	}
}

// TestMalformedResourceEnv: a malformed OTEL_RESOURCE_ATTRIBUTES costs a
// warning, not the process.
func TestMalformedResourceEnv(t *testing.T) {
	clearOTelEnv(t)
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "good=1,broken")
	h := newHarness(t, telemetry.Options{ServiceName: "svc", LogFormat: "json"})
	if !strings.Contains(h.logs.String(), "telemetry: resource") {
		t.Errorf("no warning: %s", h.logs.String())
	}
	_, span := h.tel.TracerProvider().Tracer("t").Start(context.Background(), "op")
	span.End()
	wantAttrs(t, "resource", attrMap(h.span(t, "op").Resource.Attributes()), map[string]string{"service.name": "svc"})
}
