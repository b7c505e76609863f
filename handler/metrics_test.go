package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpfleet/mcpfleet/handler"
	"github.com/mcpfleet/mcpfleet/internal/ssetest"
	"github.com/mcpfleet/mcpfleet/state"
	"github.com/mcpfleet/mcpfleet/telemetry"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The telemetry package's operator instruments are what the binary hands
// to the handler.
var _ handler.Metrics = (*telemetry.Metrics)(nil)

// fakeMetrics records what the handler reports.
type fakeMetrics struct {
	mu        sync.Mutex
	opened    int
	closed    int
	delivered map[string]int
	storeOps  map[string]int
	storeErrs map[string]int
	ended     []endedSession
}

type endedSession struct {
	d               time.Duration
	protocolVersion string
	errorType       string
}

func newFakeMetrics() *fakeMetrics {
	return &fakeMetrics{delivered: map[string]int{}, storeOps: map[string]int{}, storeErrs: map[string]int{}}
}

func (f *fakeMetrics) StreamOpened(context.Context) func() {
	f.mu.Lock()
	f.opened++
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			f.closed++
			f.mu.Unlock()
		})
	}
}

func (f *fakeMetrics) Delivered(_ context.Context, kind string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delivered[kind] += n
}

func (f *fakeMetrics) StoreOp(_ context.Context, op string) func(error) {
	return func(err error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.storeOps[op]++
		if err != nil {
			f.storeErrs[op]++
		}
	}
}

func (f *fakeMetrics) SessionEnded(_ context.Context, d time.Duration, protocolVersion, errorType string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended = append(f.ended, endedSession{d, protocolVersion, errorType})
}

func (f *fakeMetrics) snapshot() (opened, closed int, delivered, storeOps, storeErrs map[string]int, ended []endedSession) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		out := make(map[string]int, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return f.opened, f.closed, cp(f.delivered), cp(f.storeOps), cp(f.storeErrs), append([]endedSession(nil), f.ended...)
}

func nextEvent(t *testing.T, ch <-chan sseEvent, what string, match func(sseEvent) bool) sseEvent {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended without %s", what)
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s within 5s", what)
		}
	}
}

// TestMetricsReported: two instances sharing a store, each with its own
// URL, both reporting to one Metrics. A client answer to an elicitation
// lands on the other instance (a forwarded response), a stream the server
// closed is resumed on the other instance (replayed events), a
// cancellation is forwarded, the store operations are timed, every stream
// opened is closed, and DELETE reports the session's lifetime.
func TestMetricsReported(t *testing.T) {
	store := state.NewMemory(state.MemoryOptions{})
	t.Cleanup(func() { store.Close() })
	m := newFakeMetrics()
	probe := &testProbe{cancelled: make(chan string, 16)}
	var urls []string
	for i := range 2 {
		var h *handler.Handler
		server := newTestServer(probe, func(ctx context.Context, p *mcp.ResourceUpdatedNotificationParams) error {
			return h.ResourceUpdated(ctx, p)
		}, func(ctx context.Context, sid, method string, params any) error {
			return h.Notify(ctx, sid, method, params)
		})
		var err error
		h, err = handler.New(server, &handler.Options{
			Store:       store,
			InstanceID:  fmt.Sprintf("m%d", i),
			StreamRetry: 50 * time.Millisecond,
			Metrics:     m,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL+"/mcp")
	}
	// initialize on A, declaring elicitation support.
	a := &rawClient{t: t, url: urls[0]}
	resp := a.do("POST", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{}},"clientInfo":{"name":"raw","version":"1"}}}`, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("initialize: %d", resp.StatusCode)
	}
	a.sid, a.version = resp.Header.Get("Mcp-Session-Id"), "2025-11-25"
	io.Copy(io.Discard, resp.Body)
	if resp := a.do("POST", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("initialized: %d", resp.StatusCode)
	}
	b := &rawClient{t: t, url: urls[1], sid: a.sid, version: a.version}

	// Elicitation asked by A, answered on B.
	resp = a.do("POST", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ask","arguments":{}}}`, nil)
	evs := ssetest.Stream(resp.Body)
	ask := nextEvent(t, evs, "the elicitation request", func(ev sseEvent) bool { return strings.Contains(ev.Data, "elicitation/create") })
	var req struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal([]byte(ask.Data), &req); err != nil {
		t.Fatal(err)
	}
	answer := fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{"action":"accept","content":{"name":"Ada"}}}`, req.ID)
	if resp := b.do("POST", answer, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("answer on B: %d", resp.StatusCode)
	}
	if ev := nextEvent(t, evs, "the result", func(ev sseEvent) bool { return strings.Contains(ev.Data, `"id":2`) }); !strings.Contains(ev.Data, "accept: Ada") {
		t.Fatalf("result %s", ev.Data)
	}

	// A closes the stream mid-call; the client resumes on B.
	resp = a.do("POST", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"pause","arguments":{}}}`, nil)
	var lastID string
	for _, ev := range readSSE(t, resp.Body, nil) {
		if ev.ID != "" {
			lastID = ev.ID
		}
	}
	get := b.do("GET", "", map[string]string{"Last-Event-ID": lastID, "Content-Type": ""})
	if get.StatusCode != http.StatusOK {
		t.Fatalf("resume on B: %d", get.StatusCode)
	}
	rest := readSSE(t, get.Body, func(ev sseEvent) bool { return strings.Contains(ev.Data, `"id":3`) })
	if len(rest) == 0 || !strings.Contains(rest[len(rest)-1].Data, "resumed") {
		t.Fatalf("resumed stream: %+v", rest)
	}

	// A cancellation posted to B goes out over the bus.
	if resp := b.do("POST", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}}`, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("cancel on B: %d", resp.StatusCode)
	}

	if resp := b.do("DELETE", "", map[string]string{"Content-Type": ""}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}

	// Streams end when their HTTP responses are released, which may be
	// just after the client read the last event.
	deadline := time.Now().Add(5 * time.Second)
	for {
		opened, closed, _, _, _, _ := m.snapshot()
		if opened == closed || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	opened, closed, delivered, storeOps, storeErrs, ended := m.snapshot()
	t.Logf("streams opened %d, closed %d; delivered %v; store operations %v; sessions ended %+v", opened, closed, delivered, storeOps, ended)
	// initialize, ask, pause (POST streams) and the resuming GET.
	if opened < 4 || opened != closed {
		t.Errorf("streams opened %d, closed %d; want >= 4, equal", opened, closed)
	}
	if delivered["response_forwarded"] != 1 {
		t.Errorf("response_forwarded = %d, want 1 (all: %v)", delivered["response_forwarded"], delivered)
	}
	if delivered["event_replayed"] < 1 {
		t.Errorf("event_replayed = %d, want >= 1 (all: %v)", delivered["event_replayed"], delivered)
	}
	if delivered["cancel_forwarded"] != 1 {
		t.Errorf("cancel_forwarded = %d, want 1 (all: %v)", delivered["cancel_forwarded"], delivered)
	}
	for _, op := range []string{"create_session", "load_session", "save_session", "append_events", "read_events", "publish", "delete_session"} {
		if storeOps[op] == 0 {
			t.Errorf("store operation %s not reported (all: %v)", op, storeOps)
		}
	}
	if len(storeErrs) != 0 {
		t.Errorf("store errors reported: %v", storeErrs)
	}
	if len(ended) != 1 || ended[0].protocolVersion != "2025-11-25" || ended[0].errorType != "" || ended[0].d <= 0 || ended[0].d > time.Minute {
		t.Errorf("sessions ended: %+v, want one 2025-11-25 session", ended)
	}
}

// TestMetricsStoreFailure: a failing store operation is reported with its
// error; a missing session is not a failure.
func TestMetricsStoreFailure(t *testing.T) {
	store := state.NewMemory(state.MemoryOptions{})
	m := newFakeMetrics()
	h, err := handler.New(mcp.NewServer(&mcp.Implementation{Name: "s", Version: "1"}, nil), &handler.Options{Store: store, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := &rawClient{t: t, url: srv.URL, sid: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", version: "2025-11-25"}
	if resp := c.do("POST", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown session: %d", resp.StatusCode)
	}
	store.Close() // every operation fails from now on
	if resp := c.do("POST", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, nil); resp.StatusCode < 500 {
		t.Fatalf("closed store: %d", resp.StatusCode)
	}
	_, _, _, storeOps, storeErrs, _ := m.snapshot()
	if storeOps["load_session"] != 2 || storeErrs["load_session"] != 1 {
		t.Errorf("load_session: %d reported, %d failed; want 2, 1", storeOps["load_session"], storeErrs["load_session"])
	}
}
