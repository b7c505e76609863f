//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpfleet/mcpfleet/internal/lambdaemu"
	"github.com/mcpfleet/mcpfleet/internal/redistest"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The reference server as a Lambda function: the real bootstrap binary
// (built as scripts/lambda-package.sh builds it, for this machine's
// architecture) behind internal/lambdaemu, a local implementation of the
// Lambda Runtime API and of a function URL, with instances started on
// demand, one invocation at a time each, frozen (SIGSTOP) in between, and
// killed at the invocation deadline, as Lambda does.

var lambdaBinary struct {
	once sync.Once
	path string
	err  error
}

func bootstrap(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the bootstrap binary")
	}
	lambdaBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "mcpfleet-lambda-")
		if err != nil {
			lambdaBinary.err = err
			return
		}
		lambdaBinary.path = filepath.Join(dir, "bootstrap")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", lambdaBinary.path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			lambdaBinary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if lambdaBinary.err != nil {
		t.Fatal(lambdaBinary.err)
	}
	t.Cleanup(func() {}) // the binary is shared; removed with the OS temp dir
	return lambdaBinary.path
}

// startFunction runs the bootstrap behind a function URL.
func startFunction(t *testing.T, mode lambdaemu.Mode, timeout time.Duration, env ...string) *lambdaemu.Emulator {
	t.Helper()
	out := &syncBuffer{}
	emu, err := lambdaemu.Start(lambdaemu.Options{
		Command:      []string{bootstrap(t)},
		Env:          append([]string{"OTEL_SDK_DISABLED=true", "LOG_LEVEL=debug", "LAMBDA_INVOKE_MODE=" + map[lambdaemu.Mode]string{lambdaemu.Streaming: "RESPONSE_STREAM", lambdaemu.Buffered: "BUFFERED"}[mode]}, env...),
		Timeout:      timeout,
		MaxInstances: 6,
		Mode:         mode,
		Freeze:       true,
		Output:       out,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Invocations the test's clients just left (a GET stream, say)
		// end on their own in a moment: judge them once they have, not
		// as Close kills their instances (which ends them as crashes).
		var invs []lambdaemu.InvocationStats
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			invs = emu.Stats().Invocations
			if !slices.ContainsFunc(invs, func(inv lambdaemu.InvocationStats) bool { return inv.Outcome == lambdaemu.OutcomePending }) || time.Now().After(deadline) {
				break
			}
		}
		emu.Close()
		for _, inv := range invs {
			if inv.Outcome != lambdaemu.OutcomeSuccess && inv.Outcome != lambdaemu.OutcomePending {
				t.Errorf("invocation %s on i%d ended %s (a stream cut by the deadline, or an error)", inv.RequestID, inv.Instance, inv.Outcome)
			}
		}
		if t.Failed() {
			t.Logf("function output:\n%s", out.String())
		}
	})
	return emu
}

func lambdaClient(t *testing.T, url string, progress func(float64)) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "lambda-e2e", Version: "1"}, &mcp.ClientOptions{
		ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
		},
		ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
			if progress != nil {
				progress(req.Params.Progress)
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// TestLambdaSession: a full MCP session against Lambda instances sharing a
// real Redis: progress streamed as it happens, and an elicitation whose
// answer arrives at another instance than the one running the tool (that
// one is busy with the call, another holds the GET stream).
func TestLambdaSession(t *testing.T) {
	rd := redistest.Start(t)
	emu := startFunction(t, lambdaemu.Streaming, 20*time.Second, "REDIS_URL="+rd.URL())
	var mu sync.Mutex
	var stamps []time.Time
	cs := lambdaClient(t, emu.URL()+"/mcp", func(float64) {
		mu.Lock()
		stamps = append(stamps, time.Now())
		mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "long_task", Arguments: map[string]any{"steps": 3, "step_ms": 400}, Meta: mcp.Meta{"progressToken": "p"}})
	if err != nil || res.IsError {
		t.Fatalf("long_task: %v %v", err, res)
	}
	// The client hands notifications to their handler asynchronously: the
	// last one may be handled just after the result.
	var got []time.Time
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		got = append(got[:0], stamps...)
		mu.Unlock()
		if len(got) >= 3 || time.Now().After(deadline) {
			break
		}
	}
	if len(got) != 3 {
		t.Fatalf("%d progress notifications, want 3", len(got))
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i].Sub(got[i-1]); gap < 250*time.Millisecond {
			t.Errorf("progress %d arrived %v after the previous one: not streamed as it happened", i+1, gap)
		}
	}

	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "confirm_action", Arguments: map[string]any{"action": "Delete the demo project"}})
	if err != nil || res.IsError {
		t.Fatalf("confirm_action: %v %v", err, res)
	}
	var out confirmOut
	b, _ := json.Marshal(res.StructuredContent)
	if json.Unmarshal(b, &out) != nil || out.Outcome != "confirmed" {
		t.Errorf("confirm_action outcome %+v", res.StructuredContent)
	}
	if n := len(emu.Stats().Instances); n < 3 {
		t.Errorf("%d instances served the session; want at least 3 (call, GET stream, the elicitation's answer)", n)
	}
}

// TestLambdaDeadline: with a function timeout shorter than the work, the
// server ends its streams cleanly before the deadline (no invocation times
// out: startFunction checks every outcome) and the client resumes with
// Last-Event-ID on another invocation.
func TestLambdaDeadline(t *testing.T) {
	rd := redistest.Start(t)
	const timeout = 3 * time.Second
	emu := startFunction(t, lambdaemu.Streaming, timeout, "REDIS_URL="+rd.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &httpClient{t: t, url: emu.URL() + "/mcp"}
	c.initialize(ctx)

	// A call longer than the invocation: progress, then the stream ends
	// with the retry hint before the deadline.
	start := time.Now()
	evs := rest(t, c.stream(ctx, toolCall(2, "long_task", `{"steps":20,"step_ms":400}`, "p"), nil), 2*timeout)
	took := time.Since(start)
	if took >= timeout {
		t.Errorf("call stream ended after %v; the deadline was %v", took, timeout)
	}
	progress, lastID := 0, ""
	for _, ev := range evs {
		if isProgress(ev) {
			progress++
		}
		if ev.ID != "" {
			lastID = ev.ID
		}
	}
	if progress == 0 || evs[len(evs)-1].Retry == "" || lastID == "" {
		t.Fatalf("want progress then a close event with retry; got %+v", evs)
	}
	// Resumption on a new invocation: the call's answer (cancelled: it ran
	// out of time) waits there.
	resp := c.do(ctx, "GET", "", map[string]string{"Last-Event-ID": lastID, "Accept": "text/event-stream"})
	ch := make(chan sseEvent, 100)
	go readSSE(resp.Body, ch)
	m := result(t, ch, "2", timeout)
	if m.Error == nil || m.Error.Code != -32001 || !strings.Contains(m.Error.Message, "deadline") {
		t.Errorf("resumed answer %+v, want a -32001 error naming the deadline", m)
	}

	// The standalone GET stream also ends before the deadline, with an ID
	// to resume from.
	start = time.Now()
	resp = c.do(ctx, "GET", "", map[string]string{"Accept": "text/event-stream"})
	gch := make(chan sseEvent, 10)
	go readSSE(resp.Body, gch)
	gevs := rest(t, gch, 2*timeout)
	if took := time.Since(start); took >= timeout || len(gevs) == 0 || gevs[len(gevs)-1].Retry == "" || gevs[len(gevs)-1].ID == "" {
		t.Errorf("GET stream: ended after %v with %+v; want a close event with id and retry before %v", took, gevs, timeout)
	}

	// go-sdk's client resumes by itself and gets the error.
	cs := lambdaClient(t, emu.URL()+"/mcp", nil)
	_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "long_task", Arguments: map[string]any{"steps": 20, "step_ms": 400}})
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("go-sdk client: %v, want the deadline error", err)
	}
}

// TestLambdaBuffered: a function URL in BUFFERED mode cannot stream; the
// server answers JSON and turns the GET stream into a long poll, so a full
// session works, elicitation included.
func TestLambdaBuffered(t *testing.T) {
	rd := redistest.Start(t)
	emu := startFunction(t, lambdaemu.Buffered, 10*time.Second, "REDIS_URL="+rd.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c := &httpClient{t: t, url: emu.URL() + "/mcp"}
	resp := c.do(ctx, "POST", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`, nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var m rpcMsg
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" || json.Unmarshal(body, &m) != nil || m.Error != nil || resp.Header.Get("Mcp-Session-Id") == "" {
		t.Fatalf("initialize: %s %q %s", resp.Status, resp.Header.Get("Content-Type"), body)
	}

	var progress []float64
	var mu sync.Mutex
	cs := lambdaClient(t, emu.URL()+"/mcp", func(p float64) { mu.Lock(); progress = append(progress, p); mu.Unlock() })
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "confirm_action", Arguments: map[string]any{"action": "Rotate the keys"}})
	if err != nil || res.IsError {
		t.Fatalf("confirm_action over a buffered function URL: %v %v", err, res)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "long_task", Arguments: map[string]any{"steps": 2, "step_ms": 50}, Meta: mcp.Meta{"progressToken": "p"}})
	if err != nil || res.IsError {
		t.Fatalf("long_task: %v %v", err, res)
	}
	// Progress travels through the polled GET stream: it arrives, late.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(progress)
		mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			if n != 2 {
				t.Errorf("%d progress notifications through the polled stream, want 2", n)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}
