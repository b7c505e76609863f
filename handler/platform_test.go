package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// bufferingWriter is what a buffering front end gives a handler (AWS Lambda
// function URLs in BUFFERED mode, API Gateway): a ResponseWriter that cannot
// flush; the response leaves when the handler returns.
type bufferingWriter struct {
	hdr    http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferingWriter) Header() http.Header { return b.hdr }
func (b *bufferingWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferingWriter) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// buffered makes h answer through a bufferingWriter.
func buffered(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bw := &bufferingWriter{hdr: http.Header{}}
		h.ServeHTTP(bw, r)
		for k, v := range bw.hdr {
			w.Header()[k] = v
		}
		if bw.status == 0 {
			bw.status = http.StatusOK
		}
		w.WriteHeader(bw.status)
		_, _ = w.Write(bw.body.Bytes())
	})
}

// withDeadline gives every request a deadline d from its arrival, as the
// Lambda adapter does with the invocation's deadline.
func withDeadline(d time.Duration) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			h.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// TestBufferedFrontEnd: through writers that cannot flush, a full session
// still works: calls are answered with application/json, and what would
// have gone on the call's SSE stream (progress, elicitation) reaches the
// client through the standalone GET stream, which becomes a long poll.
func TestBufferedFrontEnd(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			f := newFleet(t, fleetOptions{redis: backend == "redis", wrap: buffered})
			cs, tc := connect(t, f.url, "2025-11-25")
			if got := callText(t, cs, "echo", map[string]any{"text": "x"}); got != "echo: x" {
				t.Fatalf("echo = %q", got)
			}
			if got := callText(t, cs, "ask", nil); got != "accept: Ada" {
				t.Errorf("elicitation through the polled GET stream: %q", got)
			}
			if got := callText(t, cs, "sample", nil); got != "sampled: pong" {
				t.Errorf("sampling: %q", got)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "progress", Meta: mcp.Meta{"progressToken": "tok"}})
			if err != nil || res.IsError {
				t.Fatalf("progress: %v", err)
			}
			for want := 1.0; want <= 3; want++ {
				if got := receive(t, tc.progress, "progress"); got != want {
					t.Errorf("progress %v, want %v", got, want)
				}
			}

			// Raw: the answer is one JSON object, or an array for a batch.
			c := &rawClient{t: t, url: f.url}
			c.initialize()
			resp := c.do("POST", `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"text":"j"}}}`, nil)
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("content type %q, want application/json", ct)
			}
			var one struct {
				ID     int `json:"id"`
				Result struct {
					Content []struct{ Text string } `json:"content"`
				} `json:"result"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&one); err != nil || one.ID != 5 || len(one.Result.Content) != 1 || one.Result.Content[0].Text != "echo: j" {
				t.Fatalf("JSON answer: %+v, %v", one, err)
			}
			c.version = "2025-03-26" // batches exist until 2025-06-18
			resp = c.do("POST", `[{"jsonrpc":"2.0","id":"a","method":"ping"},{"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"echo","arguments":{"text":"k"}}}]`, nil)
			var batch []map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&batch); err != nil || len(batch) != 2 {
				t.Fatalf("batch answer: %+v, %v", batch, err)
			}
		})
	}
}

// TestDeadline: with a deadline on the request's context, a call that would
// outlive it is cancelled and answered with an error before the deadline
// (the stream ends cleanly, nothing is cut), and a GET stream ends with the
// retry hint before the deadline; the client resumes with Last-Event-ID and
// misses nothing.
func TestDeadline(t *testing.T) {
	const deadline = 1500 * time.Millisecond // DeadlineMargin is 1s by default
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			f := newFleet(t, fleetOptions{redis: backend == "redis", wrap: withDeadline(deadline)})
			c := &rawClient{t: t, url: f.url}
			c.initialize()

			// A 2025-11-25 call stream ends with the retry hint; the answer
			// (-32001) waits in the store for the client's resumption.
			start := time.Now()
			resp := c.do("POST", `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"block","arguments":{"text":"deadline"}}}`, nil)
			evs := readSSE(t, resp.Body, nil)
			if took := time.Since(start); took >= deadline {
				t.Errorf("stream ended after %v, not before the deadline %v", took, deadline)
			}
			if len(evs) < 2 || evs[len(evs)-1].Retry == "" || evs[0].ID == "" {
				t.Fatalf("want priming event ... close with retry, got %+v", evs)
			}
			if got := receive(t, f.probe.cancelled, "the tool's context cancelled"); got != "deadline" {
				t.Errorf("cancelled %q", got)
			}
			get := c.do("GET", "", map[string]string{"Content-Type": "", "Last-Event-ID": evs[0].ID})
			rest := readSSE(t, get.Body, func(ev sseEvent) bool { return strings.Contains(ev.Data, `"id":9`) })
			if len(rest) == 0 || !strings.Contains(rest[len(rest)-1].Data, `"code":-32001`) {
				t.Fatalf("resumed call stream: want the -32001 answer to call 9, got %+v", rest)
			}

			// Before 2025-11-25 streams have no event IDs: the answer comes
			// inline, and the stream still ends before the deadline.
			old := &rawClient{t: t, url: f.url}
			old.initialize()
			old.version = "2025-06-18"
			start = time.Now()
			resp = old.do("POST", `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"block","arguments":{"text":"old"}}}`, nil)
			evs = readSSE(t, resp.Body, nil)
			if took := time.Since(start); took >= deadline {
				t.Errorf("stream ended after %v, not before the deadline %v", took, deadline)
			}
			if last := evs[len(evs)-1]; !strings.Contains(last.Data, `"id":4`) || !strings.Contains(last.Data, `"code":-32001`) {
				t.Fatalf("want a -32001 error answering call 4 as the last event, got %+v", evs)
			}
			receive(t, f.probe.cancelled, "the tool's context cancelled")

			// Standalone GET: notifications sent while the client reconnects
			// are not lost.
			get = c.do("GET", "", map[string]string{"Content-Type": ""})
			var lastID string
			first := readSSE(t, get.Body, nil) // ends by itself, before the deadline
			if len(first) == 0 || first[len(first)-1].Retry == "" {
				t.Fatalf("GET stream did not end with a retry hint: %+v", first)
			}
			// Three notifications published on other instances while no
			// stream is open.
			for _, text := range []string{"n1", "n2", "n3"} {
				resp := c.do("POST", `{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"later","arguments":{"text":"`+text+`"}}}`, nil)
				io.Copy(io.Discard, resp.Body)
			}
			time.Sleep(200 * time.Millisecond)
			for _, ev := range first {
				if ev.ID != "" {
					lastID = ev.ID
				}
			}
			hdr := map[string]string{"Content-Type": ""}
			if lastID != "" {
				hdr["Last-Event-ID"] = lastID
			}
			resumed := c.do("GET", "", hdr)
			var got []string
			for _, ev := range readSSE(t, resumed.Body, nil) {
				for _, n := range []string{"n1", "n2", "n3"} {
					if strings.Contains(ev.Data, `"`+n+`"`) {
						got = append(got, n)
					}
				}
			}
			sort.Strings(got) // sent from three instances: any order
			if strings.Join(got, ",") != "n1,n2,n3" {
				t.Errorf("after resumption got %v, want n1,n2,n3", got)
			}
		})
	}
}
