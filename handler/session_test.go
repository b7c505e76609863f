package handler_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpfleet/mcpfleet/internal/ssetest"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestFleetSession drives full legacy sessions through three instances with
// no affinity: every request of the session lands on another instance than
// the one before.
func TestFleetSession(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		for _, version := range []string{"2025-11-25", "2025-06-18", "2025-03-26"} {
			t.Run(backend+"/"+version, func(t *testing.T) {
				f := newFleet(t, fleetOptions{redis: backend == "redis"})
				cs, tc := connect(t, f.url, version)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()

				if got := cs.InitializeResult().ProtocolVersion; got != version {
					t.Fatalf("negotiated %s, want %s", got, version)
				}
				tools, err := cs.ListTools(ctx, nil)
				if err != nil || len(tools.Tools) == 0 {
					t.Fatalf("list tools: %v (%d tools)", err, len(tools.Tools))
				}
				for i := range 4 {
					if got, want := callText(t, cs, "echo", map[string]any{"text": fmt.Sprint(i)}), fmt.Sprintf("echo: %d", i); got != want {
						t.Fatalf("echo = %q, want %q", got, want)
					}
				}
				// Server-to-client requests: the answer POST lands on another
				// instance than the one running the tool.
				if got := callText(t, cs, "ask", nil); got != "accept: Ada" {
					t.Errorf("elicitation: %q", got)
				}
				if got := callText(t, cs, "sample", nil); got != "sampled: pong" {
					t.Errorf("sampling: %q", got)
				}
				// Progress on the request's own stream.
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "progress", Meta: mcp.Meta{"progressToken": "tok"}})
				if err != nil || res.IsError {
					t.Fatalf("progress: %v", err)
				}
				for want := 1.0; want <= 3; want++ {
					if got := receive(t, tc.progress, "progress"); got != want {
						t.Errorf("progress %v, want %v", got, want)
					}
				}
				// Log level persists across instances; a detached log message
				// reaches the client's GET stream, held by some instance.
				if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
					t.Fatal(err)
				}
				callText(t, cs, "detach", map[string]any{"text": "late news"})
				if got := receive(t, tc.logs, "detached log"); got != "late news" {
					t.Errorf("detached log %q", got)
				}
				callText(t, cs, "later", map[string]any{"text": "after the request"})
				if got := receive(t, tc.logs, "notification after the request"); got != "after the request" {
					t.Errorf("later log %q", got)
				}
				// Subscriptions: subscribe on one instance, publish from
				// another, receive on the GET stream of a third.
				if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://doc"}); err != nil {
					t.Fatal(err)
				}
				callText(t, cs, "touch", map[string]any{"text": "test://doc"})
				if got := receive(t, tc.updated, "resource update"); got != "test://doc" {
					t.Errorf("updated %q", got)
				}
				if err := cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: "test://doc"}); err != nil {
					t.Fatal(err)
				}
				// Every instance served part of the session.
				for i := range f.hits {
					if f.hits[i].Load() == 0 {
						t.Errorf("instance %d served nothing", i)
					}
				}
			})
		}
	}
}

// TestCancellationAcrossInstances: the client cancels a call; the
// notifications/cancelled POST lands on another instance than the one
// running the tool, which still sees its context cancelled.
func TestCancellationAcrossInstances(t *testing.T) {
	f := newFleet(t, fleetOptions{redis: true})
	cs, _ := connect(t, f.url, "2025-11-25")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "block", Arguments: map[string]any{"text": "c1"}})
		errc <- err
	}()
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := receive(t, errc, "call to return"); err == nil {
		t.Fatal("cancelled call returned no error")
	}
	if got := receive(t, f.probe.cancelled, "tool cancellation"); got != "c1" {
		t.Fatalf("cancelled %q", got)
	}
}

// TestMultiRoundTripAcrossInstances: a 2026-07-28 client gets an
// input_required result from one instance and retries on another; the
// sealed requestState opens there with no configured key.
func TestMultiRoundTripAcrossInstances(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			f := newFleet(t, fleetOptions{redis: backend == "redis"})
			cs, _ := connect(t, f.url, "2026-07-28")
			if got := cs.InitializeResult().ProtocolVersion; got != "2026-07-28" {
				t.Fatalf("negotiated %s", got)
			}
			if got := callText(t, cs, "echo", map[string]any{"text": "x"}); got != "echo: x" {
				t.Fatalf("echo %q", got)
			}
			if got := callText(t, cs, "confirm", nil); got != "confirmed: accept" {
				t.Fatalf("confirm %q", got)
			}
			// A legacy client gets the same tool through go-sdk's bridge
			// (a real elicitation, answered on another instance).
			legacy, _ := connect(t, f.url, "2025-11-25")
			if got := callText(t, legacy, "confirm", nil); got != "confirmed: accept" {
				t.Fatalf("legacy confirm %q", got)
			}
		})
	}
}

// sseEvent is an event of an SSE response body, for raw protocol tests.
type sseEvent = ssetest.Event

func readSSE(t *testing.T, body io.Reader, stop func(sseEvent) bool) []sseEvent {
	t.Helper()
	var evs []sseEvent
	for ev := range ssetest.Stream(body) {
		evs = append(evs, ev)
		if stop != nil && stop(ev) {
			break
		}
	}
	return evs
}

type rawClient struct {
	t       *testing.T
	url     string
	sid     string
	version string
}

func (c *rawClient) do(method, body string, hdr map[string]string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	if c.sid != "" {
		req.Header.Set("Mcp-Session-Id", c.sid)
	}
	if c.version != "" {
		req.Header.Set("Mcp-Protocol-Version", c.version)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// initialize opens a session with raw HTTP.
func (c *rawClient) initialize() {
	c.t.Helper()
	resp := c.do("POST", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`, nil)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("initialize: %d %s", resp.StatusCode, b)
	}
	c.sid = resp.Header.Get("Mcp-Session-Id")
	io.Copy(io.Discard, resp.Body)
	c.version = "2025-11-25"
	if resp := c.do("POST", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil); resp.StatusCode != 202 {
		c.t.Fatalf("initialized: %d", resp.StatusCode)
	}
}

// TestResumeOnAnotherInstance: the server closes a tool call's stream
// mid-call (SEP-1699 polling); the client resumes with Last-Event-ID on
// another instance and receives the rest, including the final response of
// the call still running on the first instance.
func TestResumeOnAnotherInstance(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			f := newFleet(t, fleetOptions{redis: backend == "redis"})
			c := &rawClient{t: t, url: f.url}
			c.initialize()
			resp := c.do("POST", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"pause","arguments":{}}}`, nil)
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Fatalf("content type %q", ct)
			}
			evs := readSSE(t, resp.Body, nil)
			if len(evs) < 3 || evs[0].Name != "prime" || evs[0].Data != "" || evs[0].ID == "" {
				t.Fatalf("want priming, progress, close; got %+v", evs)
			}
			last := evs[len(evs)-1]
			if last.Retry == "" {
				t.Fatalf("stream closed without retry hint: %+v", evs)
			}
			var lastID string
			for _, ev := range evs {
				if strings.Contains(ev.Data, `"result"`) {
					t.Fatalf("result arrived before the close: %+v", evs)
				}
				if ev.ID != "" {
					lastID = ev.ID
				}
			}
			get := c.do("GET", "", map[string]string{"Last-Event-ID": lastID, "Content-Type": ""})
			if get.StatusCode != 200 {
				t.Fatalf("resume GET: %d", get.StatusCode)
			}
			rest := readSSE(t, get.Body, func(ev sseEvent) bool { return strings.Contains(ev.Data, `"id":7`) })
			if len(rest) == 0 || !strings.Contains(rest[len(rest)-1].Data, "resumed") {
				t.Fatalf("resumed stream: %+v", rest)
			}
			for _, ev := range rest {
				if strings.Contains(ev.Data, "progress") {
					t.Errorf("replayed an event the client already had: %+v", ev)
				}
			}
		})
	}
}
