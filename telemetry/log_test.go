package telemetry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/mcpfleet/mcpfleet/telemetry"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/trace"
)

var logTime = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("CET", 3600))

// spanContext is the context of a sampled remote span.
func spanContext(t *testing.T, sampled bool) context.Context {
	t.Helper()
	tid, _ := trace.TraceIDFromHex(remoteTraceID)
	sid, _ := trace.SpanIDFromHex(remoteSpanID)
	var flags trace.TraceFlags
	if sampled {
		flags = trace.FlagsSampled
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true})
	return trace.ContextWithSpanContext(context.Background(), sc)
}

// logRecord writes one record with a fixed time straight to the handler.
func logRecord(t *testing.T, l *slog.Logger, ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	t.Helper()
	r := slog.NewRecord(logTime, level, msg, 0)
	r.AddAttrs(attrs...)
	if err := l.Handler().Handle(ctx, r); err != nil {
		t.Fatal(err)
	}
}

func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

func TestCloudRunLogExact(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{Platform: telemetry.PlatformCloudRun, ProjectID: "my-proj", LogLevel: slog.LevelDebug})
	logRecord(t, h.tel.Logger(), spanContext(t, true), slog.LevelWarn, "cache \"miss\"\n",
		slog.String("city", "Paris"), slog.Int("n", 3), slog.String("password", "hunter2-hunter2"),
		slog.Group("req", slog.Duration("took", 1500*time.Millisecond), slog.Bool("ok", true)))

	want := `{"severity":"WARNING","message":"cache \"miss\"\n","timestamp":"2026-01-02T02:04:05.123456789Z",` +
		`"logging.googleapis.com/trace":"projects/my-proj/traces/4bf92f3577b34da6a3ce929d0e0e4736",` +
		`"logging.googleapis.com/spanId":"00f067aa0ba902b7","logging.googleapis.com/trace_sampled":true,` +
		`"city":"Paris","n":3,"password":"[REDACTED]","req":{"took":"1.5s","ok":true}}` + "\n"
	if got := h.logs.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(h.logs.String()), &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if _, err := time.Parse(time.RFC3339Nano, v["timestamp"].(string)); err != nil {
		t.Errorf("timestamp: %v", err)
	}
}

func TestCloudRunSeverity(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{Platform: telemetry.PlatformCloudRun, ProjectID: "p", LogLevel: slog.LevelDebug})
	levels := []struct {
		level slog.Level
		want  string
	}{
		{slog.LevelDebug, "DEBUG"}, {slog.LevelInfo, "INFO"}, {slog.LevelInfo + 2, "NOTICE"},
		{slog.LevelWarn, "WARNING"}, {slog.LevelError, "ERROR"}, {slog.LevelError + 4, "CRITICAL"},
	}
	for _, l := range levels {
		logRecord(t, h.tel.Logger(), context.Background(), l.level, "m")
	}
	got := lines(h.logs.String())
	if len(got) != len(levels) {
		t.Fatalf("%d lines, want %d", len(got), len(levels))
	}
	for i, l := range levels {
		var v struct{ Severity string }
		if err := json.Unmarshal([]byte(got[i]), &v); err != nil || v.Severity != l.want {
			t.Errorf("level %v: %s (%v), want severity %s", l.level, got[i], err, l.want)
		}
		if strings.Contains(got[i], "logging.googleapis.com/trace") {
			t.Errorf("trace field without a span: %s", got[i])
		}
	}
}

func TestCloudRunLogLevelFilter(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{Platform: telemetry.PlatformCloudRun, ProjectID: "p", LogLevel: slog.LevelWarn})
	h.tel.Logger().Info("dropped")
	h.tel.Logger().Warn("kept")
	if got := lines(h.logs.String()); len(got) != 1 || !strings.Contains(got[0], `"message":"kept"`) {
		t.Errorf("got %q", got)
	}
}

// TestCloudRunLogInMCPRequest: a tool's log line carries its span's trace
// and the MCP labels, and the source location.
func TestCloudRunLogInMCPRequest(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{Platform: telemetry.PlatformCloudRun, ProjectID: "my-proj"})
	ts := newTestServer(h.tel, nil)
	url := serveHTTP(t, h.tel, ts, false)
	cs := connectHTTP(t, url, "2025-11-25", nil)
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_weather", Arguments: map[string]any{"city": "Nice"}}); err != nil {
		t.Fatal(err)
	}
	s := h.span(t, "tools/call get_weather")

	var line map[string]any
	for _, l := range lines(h.logs.String()) {
		if strings.Contains(l, `"message":"forecasting"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line == nil {
		t.Fatalf("no log line from the tool in %s", h.logs.String())
	}
	if got, want := line["logging.googleapis.com/trace"], "projects/my-proj/traces/"+s.SpanContext.TraceID().String(); got != want {
		t.Errorf("trace = %v, want %v", got, want)
	}
	if got := line["logging.googleapis.com/spanId"]; got != s.SpanContext.SpanID().String() {
		t.Errorf("spanId = %v, want the tool span %v", got, s.SpanContext.SpanID())
	}
	if line["logging.googleapis.com/trace_sampled"] != true {
		t.Error("trace_sampled is not true")
	}
	labels, _ := line["logging.googleapis.com/labels"].(map[string]any)
	if labels["mcp.method.name"] != "tools/call" || labels["mcp.session.id"] != cs.ID() || labels["gen_ai.tool.name"] != "get_weather" {
		t.Errorf("labels = %v", labels)
	}
	src, _ := line["logging.googleapis.com/sourceLocation"].(map[string]any)
	if !strings.HasSuffix(fmt.Sprint(src["file"]), "helpers_test.go") || src["line"] == "" {
		t.Errorf("sourceLocation = %v", src)
	}
	if line["city"] != "Nice" || line["severity"] != "INFO" {
		t.Errorf("line = %v", line)
	}
}

func TestCloudRunHTTPRequest(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{Platform: telemetry.PlatformCloudRun, ProjectID: "p"})
	r := httptest.NewRequest("POST", "http://example.com/mcp?token=abc123", strings.NewReader("{}"))
	r.Header.Set("User-Agent", "test/1")
	r.Header.Set("X-Forwarded-For", "203.0.113.7, 10.0.0.1")
	h.tel.Logger().WithGroup("g").Info("served", telemetry.HTTPRequest(r, 200, 1500*time.Millisecond, 42))
	logRecord(t, h.tel.Logger(), context.Background(), slog.LevelInfo, "served", telemetry.HTTPRequest(r, 200, 1500*time.Millisecond, 42))

	got := lines(h.logs.String())
	want := `"httpRequest":{"requestMethod":"POST","requestUrl":"http://example.com/mcp","requestSize":"2","status":200,` +
		`"responseSize":"42","userAgent":"test/1","remoteIp":"203.0.113.7","latency":"1.5s","protocol":"HTTP/1.1"}`
	if !strings.Contains(got[1], `"timestamp":"2026-01-02T02:04:05.123456789Z",`+want+"}") {
		t.Errorf("got  %s\nwant top-level %s", got[1], want)
	}
	// Inside a group it is not Cloud Logging's field, but still written.
	if !strings.Contains(got[0], `"g":{`+want) {
		t.Errorf("grouped: %s", got[0])
	}
	if strings.Contains(h.logs.String(), "abc123") {
		t.Error("query string (token) logged")
	}
}

// TestGroupsKeepPlatformFieldsTopLevel: WithGroup and WithAttrs nest the
// caller's attributes, never the platform's fields.
func TestGroupsKeepPlatformFieldsTopLevel(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{Platform: telemetry.PlatformCloudRun, ProjectID: "p"})
	l := h.tel.Logger().With("a", 1).WithGroup("g").With("b", 2).WithGroup("empty")
	l.InfoContext(spanContext(t, false), "m", "message", "not the message")
	var v map[string]any
	if err := json.Unmarshal([]byte(h.logs.String()), &v); err != nil {
		t.Fatal(err)
	}
	if v["message"] != "m" || v["a"] != 1.0 || v["logging.googleapis.com/trace_sampled"] != false {
		t.Errorf("line %v", v)
	}
	g, _ := v["g"].(map[string]any)
	if g["b"] != 2.0 || g["empty"].(map[string]any)["message"] != "not the message" {
		t.Errorf("group g = %v", g)
	}
}

func TestLambdaLog(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{Platform: telemetry.PlatformLambda})
	ctx := lambdacontext.NewContext(spanContext(t, true), &lambdacontext.LambdaContext{AwsRequestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd"})
	ctx = context.WithValue(ctx, "x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1") //nolint:staticcheck // aws-lambda-go's key
	logRecord(t, h.tel.Logger(), ctx, slog.LevelWarn, "slow", slog.Int("ms", 1200), slog.String("level", "x"))
	want := `{"timestamp":"2026-01-02T02:04:05.123456789Z","level":"WARN","message":"slow",` +
		`"requestId":"8476a536-e9f4-11e8-9739-2dfe598c3fcd","xrayTraceId":"1-5759e988-bd862e3fe1be46a994272793","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",` +
		`"span_id":"00f067aa0ba902b7","ms":1200,"_level":"x"}` + "\n"
	if got := h.logs.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestLocalFormats(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{LogFormat: "json"})
	logRecord(t, h.tel.Logger(), spanContext(t, true), slog.LevelInfo, "hi", slog.String("k", "v"))
	want := `{"time":"2026-01-02T03:04:05.123456789+01:00","level":"INFO","msg":"hi","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","k":"v"}` + "\n"
	if got := h.logs.String(); got != want {
		t.Errorf("json: got  %s\nwant %s", got, want)
	}

	h = newHarness(t, telemetry.Options{LogFormat: "text"})
	logRecord(t, h.tel.Logger(), spanContext(t, true), slog.LevelInfo, "hi", slog.String("k", "v"), slog.String("secret", "s3cr3t-value"))
	want = `time=2026-01-02T03:04:05.123+01:00 level=INFO msg=hi trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 k=v secret=[REDACTED]` + "\n"
	if got := h.logs.String(); got != want {
		t.Errorf("text: got  %s\nwant %s", got, want)
	}

	if _, err := telemetry.New(context.Background(), telemetry.Options{LogFormat: "xml"}); err == nil {
		t.Error("LogFormat xml accepted")
	}
}

// TestSecretsNeverLogged: secrets from the environment and secret-looking
// attributes are absent from every format.
func TestSecretsNeverLogged(t *testing.T) {
	secrets := []string{
		"correct-horse-battery-staple", // REDIS_PASSWORD
		"p4ssw0rd-in-url",              // in REDIS_URL
		"AKIAxSECRETxACCESSxKEY",       // AWS_SECRET_ACCESS_KEY
		"Bearer api-key-123456",        // OTEL_EXPORTER_OTLP_HEADERS value
		"attr-secret-value-1",          // attributes below
		"attr-secret-value-2",
		"attr-secret-value-3",
		"attr-secret-value-4",
	}
	for _, platform := range []string{telemetry.PlatformCloudRun, telemetry.PlatformLambda, telemetry.PlatformLocal + "/json", telemetry.PlatformLocal + "/text"} {
		t.Run(platform, func(t *testing.T) {
			clearOTelEnv(t)
			t.Setenv("REDIS_PASSWORD", secrets[0])
			t.Setenv("REDIS_URL", "redis://:"+secrets[1]+"@10.0.0.3:6379/0")
			t.Setenv("AWS_SECRET_ACCESS_KEY", secrets[2])
			t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization="+secrets[3])
			p, format, _ := strings.Cut(platform, "/")
			h := newHarness(t, telemetry.Options{Platform: p, LogFormat: format, ProjectID: "p", LogLevel: slog.LevelDebug})

			l := h.tel.Logger().With("api_key", secrets[4])
			l.Error("redis dial failed: auth "+secrets[0]+" rejected",
				"err", errors.New("WRONGPASS "+secrets[0]),
				"url", "redis://:"+secrets[1]+"@10.0.0.3:6379/0",
				"Authorization", secrets[5],
				slog.Group("cfg", "Token", secrets[6], "env", secrets[2]),
				"config", map[string]any{"nested": map[string]string{"client_secret": secrets[7], "region": "eu"}},
				"headers", fmt.Errorf("sent %s", secrets[3]),
			)
			out := h.logs.String()
			if found := contains(out, secrets...); len(found) > 0 {
				t.Errorf("secrets in the output: %q\n%s", found, out)
			}
			if !strings.Contains(out, "[REDACTED]") || !strings.Contains(out, "10.0.0.3") || !strings.Contains(out, "eu") {
				t.Errorf("redaction lost the rest of the record: %s", out)
			}
		})
	}
}

func TestAllowKeys(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{LogFormat: "json", AllowKeys: []string{"cache_key"}})
	h.tel.Logger().Info("m", "cache_key", "sessions:{abc}", "api_key", "nope-nope-nope")
	out := h.logs.String()
	if !strings.Contains(out, `"cache_key":"sessions:{abc}"`) || !strings.Contains(out, `"api_key":"[REDACTED]"`) {
		t.Errorf("got %s", out)
	}
}

func TestCloudRunWithoutProject(t *testing.T) {
	clearOTelEnv(t)
	h := newHarness(t, telemetry.Options{Platform: telemetry.PlatformCloudRun})
	logRecord(t, h.tel.Logger(), spanContext(t, true), slog.LevelInfo, "m")
	got := lines(h.logs.String())
	if len(got) != 2 || !strings.Contains(got[0], "GOOGLE_CLOUD_PROJECT") {
		t.Fatalf("want a start-up warning and the line, got %q", got)
	}
	if strings.Contains(got[1], "logging.googleapis.com/trace") || !strings.Contains(got[1], `"trace_id":"`+remoteTraceID+`"`) {
		t.Errorf("line %s", got[1])
	}
}
