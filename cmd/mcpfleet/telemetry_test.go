package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// otlpSink is a stand-in OTLP/HTTP collector on loopback: it accepts every
// export and keeps the (protobuf) bodies by path, /v1/traces and
// /v1/metrics. Span names and attribute keys appear verbatim in them.
type otlpSink struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies map[string][][]byte
}

func newOTLPSink(t *testing.T) *otlpSink {
	t.Helper()
	s := &otlpSink{bodies: map[string][][]byte{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		s.mu.Lock()
		s.bodies[r.URL.Path] = append(s.bodies[r.URL.Path], b)
		s.mu.Unlock()
		// An empty Export*ServiceResponse: full success.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// received returns the bodies exported to path, concatenated, and how many
// exports there were.
func (s *otlpSink) received(path string) ([]byte, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Join(s.bodies[path], nil), len(s.bodies[path])
}

func (s *otlpSink) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, b := range s.bodies {
		n += len(b)
	}
	return n
}

// convertOnce runs a legacy session with one convert_units call, with hdr
// on the tools/call POST.
func convertOnce(t *testing.T, p *proc, hdr map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &httpClient{t: t, url: p.url + mcpPath}
	c.initialize(ctx)
	m := result(t, c.stream(ctx, toolCall(2, "convert_units", `{"value":10,"from":"km","to":"mi"}`, ""), hdr), "2", 10*time.Second)
	if m.Error != nil || !strings.Contains(string(m.Result), "6.21371192237") {
		t.Fatalf("convert_units: %+v %s", m.Error, m.Result)
	}
}

// stop sends SIGTERM and wants exit status 0.
func (p *proc) stop() {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	if code := p.wait(12 * time.Second); code != 0 {
		p.t.Fatalf("exit code %d after SIGTERM", code)
	}
}

// TestBinaryTelemetryDisabled: with OTEL_SDK_DISABLED=true the binary
// serves as usual, logs, and exports nothing, even with an endpoint set.
func TestBinaryTelemetryDisabled(t *testing.T) {
	sink := newOTLPSink(t)
	p := startProc(t, "MCP_ADDR=127.0.0.1:0", "OTEL_SDK_DISABLED=true",
		"OTEL_EXPORTER_OTLP_ENDPOINT="+sink.srv.URL, "OTEL_METRIC_EXPORT_INTERVAL=100", "OTEL_BSP_SCHEDULE_DELAY=100")
	convertOnce(t, p, nil)
	time.Sleep(300 * time.Millisecond) // several export intervals, were it on
	p.stop()
	if n := sink.total(); n != 0 {
		t.Errorf("%d exports with OTEL_SDK_DISABLED=true", n)
	}
	if n := countRecords(p.stderr.String(), "tool call", map[string]string{"tool": "convert_units", "outcome": "ok"}); n != 1 {
		t.Errorf("%d tool call log lines, want 1", n)
	}
}

// TestBinaryExportsOnDrain: spans and metrics still buffered when SIGTERM
// arrives are exported during the drain (the export intervals here are
// far longer than the test).
func TestBinaryExportsOnDrain(t *testing.T) {
	sink := newOTLPSink(t)
	p := startProc(t, "MCP_ADDR=127.0.0.1:0", "OTEL_EXPORTER_OTLP_ENDPOINT="+sink.srv.URL,
		"OTEL_METRIC_EXPORT_INTERVAL=600000", "OTEL_BSP_SCHEDULE_DELAY=600000")
	convertOnce(t, p, nil)
	if n := sink.total(); n != 0 {
		t.Fatalf("%d exports before SIGTERM; the test wants them at the drain", n)
	}
	p.stop()
	traces, _ := sink.received("/v1/traces")
	metrics, _ := sink.received("/v1/metrics")
	for _, want := range []string{"tools/call convert_units", "initialize", "mcp.method.name", "gen_ai.tool.name", "mcpfleet"} {
		if !bytes.Contains(traces, []byte(want)) {
			t.Errorf("exported spans lack %q", want)
		}
	}
	for _, want := range []string{"mcp.server.operation.duration", "http.server.request.duration", "mcpfleet.sse.active_streams", "mcpfleet.store.operation.duration", "load_session"} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("exported metrics lack %q", want)
		}
	}
}

// TestBinaryCloudRunLogs: on Cloud Run (K_SERVICE set) every log line is a
// Cloud Logging structured-logging entry, and the tool call's line is
// linked to the trace of the request's traceparent.
func TestBinaryCloudRunLogs(t *testing.T) {
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		parent  = "00f067aa0ba902b7"
	)
	p := startProc(t, "MCP_ADDR=127.0.0.1:0", "K_SERVICE=mcpfleet", "K_REVISION=mcpfleet-00001-abc",
		"GOOGLE_CLOUD_PROJECT=p", "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none")
	convertOnce(t, p, map[string]string{"traceparent": fmt.Sprintf("00-%s-%s-01", traceID, parent)})
	p.stop()

	severities := map[string]bool{"DEBUG": true, "INFO": true, "NOTICE": true, "WARNING": true, "ERROR": true, "CRITICAL": true}
	var lines, toolCalls int
	for _, out := range []string{p.stderr.String(), p.stdout.String()} {
		for _, line := range strings.Split(out, "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			lines++
			recs := logRecords(line)
			if len(recs) != 1 {
				t.Errorf("not a JSON object: %s", line)
				continue
			}
			rec := recs[0]
			sev, _ := rec["severity"].(string)
			msg, _ := rec["message"].(string)
			ts, _ := rec["timestamp"].(string)
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !severities[sev] || msg == "" {
				t.Errorf("not a Cloud Logging entry (severity, message, timestamp): %s", line)
			}
			for _, k := range []string{"level", "msg", "time"} {
				if _, ok := rec[k]; ok {
					t.Errorf("slog key %q in %s", k, line)
				}
			}
			if msg != "tool call" {
				continue
			}
			toolCalls++
			if got := rec["logging.googleapis.com/trace"]; got != "projects/p/traces/"+traceID {
				t.Errorf("tool call trace = %v, want projects/p/traces/%s: %s", got, traceID, line)
			}
			if span, _ := rec["logging.googleapis.com/spanId"].(string); len(span) != 16 || span == parent {
				t.Errorf("tool call spanId = %q, want the server's MCP span: %s", span, line)
			}
			if rec["logging.googleapis.com/trace_sampled"] != true {
				t.Errorf("trace_sampled not true: %s", line)
			}
			labels, _ := rec["logging.googleapis.com/labels"].(map[string]any)
			if labels["mcp.method.name"] != "tools/call" || labels["gen_ai.tool.name"] != "convert_units" {
				t.Errorf("labels %v: %s", labels, line)
			}
		}
	}
	if toolCalls != 1 || lines < 4 {
		t.Errorf("%d log lines, %d tool calls; want a start-up, the tool call, the drain", lines, toolCalls)
	}
}
