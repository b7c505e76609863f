package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Both protocol eras: the session-based one (server-to-client requests over
// the session) and the sessionless one (input requests in results).
var eras = []string{"2025-11-25", "2026-07-28"}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
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

// testApp builds the server with test defaults; log receives its logs.
func testApp(t *testing.T, opts serverOptions) (*app, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.Name == "" {
		opts.Name = "mcpfleet-test"
	}
	if opts.InstanceID == "" {
		opts.InstanceID = "test-instance"
	}
	if opts.Version == "" {
		opts.Version = "v0.0.0-test"
	}
	return newServer(opts), log
}

// connect connects a client speaking version to a over in-memory
// transports.
func connect(t *testing.T, a *app, version string, copts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := a.server.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, copts).
		Connect(ctx, ct, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	if got := cs.InitializeResult().ProtocolVersion; got != version {
		t.Fatalf("negotiated %s, want %s", got, version)
	}
	return cs
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// structured decodes the structured content of res into v.
func structured(t *testing.T, res *mcp.CallToolResult, v any) {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
}

// toolCase is one call and what its result must show.
type toolCase struct {
	name    string
	args    map[string]any
	isError bool
	want    []string // substrings of the text content
	notWant []string
	check   func(t *testing.T, res *mcp.CallToolResult)
}

func runToolCases(t *testing.T, cs *mcp.ClientSession, tool string, cases []toolCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := callTool(t, cs, tool, tc.args)
			got := text(res)
			if res.IsError != tc.isError {
				t.Fatalf("isError = %v, want %v (%q)", res.IsError, tc.isError, got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("text %q does not contain %q", got, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("text %q contains %q", got, w)
				}
			}
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
}

func TestConvertUnits(t *testing.T) {
	result := func(want float64, from, to string) func(*testing.T, *mcp.CallToolResult) {
		return func(t *testing.T, res *mcp.CallToolResult) {
			var out convertOut
			structured(t, res, &out)
			if out.Result != want || out.From != from || out.To != to {
				t.Errorf("structured %+v, want result %v %s→%s", out, want, from, to)
			}
		}
	}
	cases := []toolCase{
		{name: "miles to km", args: map[string]any{"value": 3, "from": "mi", "to": "km"},
			want: []string{"3 mi = 4.828032 km"}, check: result(4.828032, "mi", "km")},
		{name: "names and case", args: map[string]any{"value": 2, "from": "Pounds", "to": " KG "},
			check: result(0.90718474, "lb", "kg")},
		{name: "boiling water", args: map[string]any{"value": 212, "from": "degF", "to": "celsius"},
			want: []string{"212 degF = 100 degC"}, check: result(100, "degF", "degC")},
		{name: "no float noise", args: map[string]any{"value": 0.1, "from": "m", "to": "cm"},
			check: result(10, "m", "cm")},
		{name: "absolute zero is fine", args: map[string]any{"value": 0, "from": "K", "to": "degF"},
			check: result(-459.67, "K", "degF")},
		{name: "below absolute zero", args: map[string]any{"value": -500, "from": "degF", "to": "K"},
			isError: true, want: []string{"below absolute zero"}},
		{name: "unknown unit", args: map[string]any{"value": 1, "from": "furlong", "to": "m"},
			isError: true, want: []string{`unknown unit "furlong"`, "length: m, km"}},
		{name: "different dimensions", args: map[string]any{"value": 1, "from": "kg", "to": "m"},
			isError: true, want: []string{"cannot convert mass (kg) to length (m)"}},
		{name: "missing argument (schema)", args: map[string]any{"value": 1, "from": "kg"},
			isError: true, want: []string{"to"}},
		{name: "wrong type (schema)", args: map[string]any{"value": "one", "from": "kg", "to": "g"},
			isError: true, want: []string{"value"}},
		{name: "out of range", args: map[string]any{"value": 1e308, "from": "nmi", "to": "mm"},
			isError: true, want: []string{"out of range"}},
	}
	for _, era := range eras {
		t.Run(era, func(t *testing.T) {
			a, _ := testApp(t, serverOptions{})
			runToolCases(t, connect(t, a, era, nil), "convert_units", cases)
			// Every refusal is the caller's fault: none counts as an error.
			if e, c := a.stats.errors.Load(), a.stats.clientErrors.Load(); e != 0 || c != 6 {
				t.Errorf("errors %d, client errors %d; want 0 and 6", e, c)
			}
		})
	}
}

// quoteFunc adapts a function to quoteSource.
type quoteFunc func(ctx context.Context, symbol string) (quote, error)

func (f quoteFunc) Quote(ctx context.Context, symbol string) (quote, error) { return f(ctx, symbol) }

func TestFetchQuote(t *testing.T) {
	var calls atomic.Int64
	upstream := func(ctx context.Context, symbol string) (quote, error) {
		calls.Add(1)
		switch symbol {
		case "DOWN":
			return quote{}, errUpstreamUnavailable
		case "SLOW":
			<-ctx.Done() // the per-attempt timeout
			return quote{}, ctx.Err()
		case "BUG":
			return quote{}, errors.New("decoding upstream reply: unexpected token at db-7.internal:5432")
		}
		return (&simulatedQuotes{}).Quote(ctx, symbol)
	}
	cases := []toolCase{
		{name: "ok", args: map[string]any{"symbol": "goog"}, want: []string{"GOOG: ", "USD"},
			check: func(t *testing.T, res *mcp.CallToolResult) {
				var q quote
				structured(t, res, &q)
				if q.Symbol != "GOOG" || q.Price <= 0 || q.Currency != "USD" {
					t.Errorf("quote %+v", q)
				}
			}},
		{name: "invalid symbol", args: map[string]any{"symbol": "not a symbol!"}, isError: true,
			want: []string{"invalid symbol", "GOOG"}},
		{name: "upstream unavailable is transient", args: map[string]any{"symbol": "DOWN"}, isError: true,
			want:    []string{"temporarily unavailable", "transient", "retried in about 2 seconds"},
			notWant: []string{"503"}},
		{name: "unexpected failure leaks nothing", args: map[string]any{"symbol": "BUG"}, isError: true,
			want:    []string{"internal error while fetching a quote (reference "},
			notWant: []string{"db-7", "5432", "token"}},
	}
	a, log := testApp(t, serverOptions{Quotes: quoteFunc(upstream)})
	cs := connect(t, a, "2025-11-25", nil)
	runToolCases(t, cs, "fetch_quote", cases)
	if !strings.Contains(log.String(), "db-7.internal") {
		t.Error("the internal error's details are not in the log")
	}

	// A transient failure is retried once before it is reported.
	calls.Store(0)
	callTool(t, cs, "fetch_quote", map[string]any{"symbol": "DOWN"})
	if n := calls.Load(); n != quoteAttempts {
		t.Errorf("upstream called %d times, want %d", n, quoteAttempts)
	}
	// Dependency failures count as errors, invalid input does not.
	if e, c := a.stats.errors.Load(), a.stats.clientErrors.Load(); e != 3 || c != 1 {
		t.Errorf("errors %d, client errors %d; want 3 and 1", e, c)
	}
}

func TestFetchQuoteSimulatedFailures(t *testing.T) {
	for _, rate := range []float64{0, 1} {
		a, _ := testApp(t, serverOptions{Quotes: &simulatedQuotes{FailureRate: rate}})
		res := callTool(t, connect(t, a, "2026-07-28", nil), "fetch_quote", map[string]any{"symbol": "ACME"})
		if res.IsError != (rate == 1) {
			t.Errorf("failure rate %v: isError %v (%s)", rate, res.IsError, text(res))
		}
	}
}

func TestLongTaskProgress(t *testing.T) {
	for _, era := range eras {
		t.Run(era, func(t *testing.T) {
			a, _ := testApp(t, serverOptions{})
			var mu sync.Mutex
			var progress []*mcp.ProgressNotificationParams
			cs := connect(t, a, era, &mcp.ClientOptions{
				ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
					mu.Lock()
					progress = append(progress, r.Params)
					mu.Unlock()
				},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			params := &mcp.CallToolParams{Name: "long_task", Arguments: map[string]any{"steps": 4, "step_ms": 20}}
			params.SetProgressToken("tok-1")
			res, err := cs.CallTool(ctx, params)
			if err != nil || res.IsError {
				t.Fatalf("long_task: %v %s", err, text(res))
			}
			var out longTaskOut
			structured(t, res, &out)
			if out.Steps != 4 || out.DurationMS < 80 {
				t.Errorf("result %+v", out)
			}
			// Notifications may trail the result on the client side.
			deadline := time.Now().Add(5 * time.Second)
			for {
				mu.Lock()
				n := len(progress)
				mu.Unlock()
				if n == 4 || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(progress) != 4 {
				t.Fatalf("%d progress notifications, want 4", len(progress))
			}
			for i, p := range progress {
				if p.ProgressToken != "tok-1" || p.Progress != float64(i+1) || p.Total != 4 || p.Message == "" {
					t.Errorf("progress %d: %+v", i, p)
				}
			}
		})
	}
}

func TestLongTaskValidation(t *testing.T) {
	a, _ := testApp(t, serverOptions{Limits: limits{RequestTimeout: time.Second}})
	runToolCases(t, connect(t, a, "2026-07-28", nil), "long_task", []toolCase{
		{name: "defaults are validated too", args: map[string]any{}, isError: true,
			want: []string{"would take 5s", "request timeout (1s)"}},
		{name: "too many steps", args: map[string]any{"steps": 101, "step_ms": 10}, isError: true, want: []string{"steps is 101; want 1-100"}},
		{name: "negative steps", args: map[string]any{"steps": -1}, isError: true, want: []string{"steps is -1"}},
		{name: "step too short", args: map[string]any{"steps": 1, "step_ms": 5}, isError: true, want: []string{"step_ms is 5"}},
		{name: "ok", args: map[string]any{"steps": 2, "step_ms": 10}, want: []string{"Completed 2 steps"}},
	})
}

func TestLongTaskCancellation(t *testing.T) {
	for _, era := range eras {
		t.Run(era, func(t *testing.T) {
			a, log := testApp(t, serverOptions{})
			first := make(chan struct{}, 100)
			cs := connect(t, a, era, &mcp.ClientOptions{
				ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { first <- struct{}{} },
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			params := &mcp.CallToolParams{Name: "long_task", Arguments: map[string]any{"steps": 100, "step_ms": 50}}
			params.SetProgressToken(7)
			errc := make(chan error, 1)
			start := time.Now()
			go func() { _, err := cs.CallTool(ctx, params); errc <- err }()
			select {
			case <-first:
			case <-time.After(5 * time.Second):
				t.Fatal("no progress")
			}
			cancel()
			select {
			case err := <-errc:
				if err == nil {
					t.Fatal("cancelled call returned no error")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("cancelled call did not return")
			}
			// The tool stops on the server, long before its 5 s.
			deadline := time.Now().Add(3 * time.Second)
			for a.stats.cancelled.Load() == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the server did not see the cancellation; log:\n%s", log.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("cancellation took %v", d)
			}
			if a.stats.errors.Load() != 0 {
				t.Error("a cancellation counted as an error")
			}
		})
	}
}

func TestConfirmAction(t *testing.T) {
	cases := []struct {
		name    string
		answer  *mcp.ElicitResult
		outcome string
		want    string
	}{
		{"confirmed", &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, "confirmed", "The user confirmed: Delete project demo"},
		{"answered no", &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": false}}, "rejected", "answered no"},
		{"declined", &mcp.ElicitResult{Action: "decline"}, "declined", "declined to answer"},
		{"cancelled", &mcp.ElicitResult{Action: "cancel"}, "cancelled", "dismissed the question"},
	}
	for _, era := range eras {
		for _, tc := range cases {
			t.Run(era+"/"+tc.name, func(t *testing.T) {
				a, _ := testApp(t, serverOptions{})
				var asked atomic.Value
				cs := connect(t, a, era, &mcp.ClientOptions{
					ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
						asked.Store(r.Params.Message)
						return tc.answer, nil
					},
				})
				res := callTool(t, cs, "confirm_action", map[string]any{"action": "Delete project demo"})
				if res.IsError || !strings.Contains(text(res), tc.want) {
					t.Fatalf("result %v %q, want %q", res.IsError, text(res), tc.want)
				}
				var out confirmOut
				structured(t, res, &out)
				if out.Outcome != tc.outcome || out.Action != "Delete project demo" {
					t.Errorf("structured %+v, want outcome %s", out, tc.outcome)
				}
				if m, _ := asked.Load().(string); !strings.Contains(m, "Delete project demo") {
					t.Errorf("the user was asked %q", m)
				}
			})
		}
	}
}

func TestConfirmActionRefusals(t *testing.T) {
	for _, era := range eras {
		t.Run(era, func(t *testing.T) {
			a, log := testApp(t, serverOptions{})
			// A client without the elicitation capability cannot confirm.
			runToolCases(t, connect(t, a, era, nil), "confirm_action", []toolCase{
				{name: "no elicitation capability", args: map[string]any{"action": "x"}, isError: true,
					want: []string{"did not declare the elicitation capability", "not carried out"}},
				{name: "blank action", args: map[string]any{"action": "  "}, isError: true, want: []string{`"action" must describe`}},
			})
			// The client fails to answer: the error reaches nobody but the log.
			cs := connect(t, a, era, &mcp.ClientOptions{
				ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					return nil, errors.New("UI crashed at 0xdeadbeef")
				},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "confirm_action", Arguments: map[string]any{"action": "x"}})
			switch era {
			case "2025-11-25":
				// The server asked over the session and got an error back.
				if err != nil || !res.IsError || !strings.Contains(text(res), "internal error while asking the user") ||
					strings.Contains(text(res), "deadbeef") {
					t.Fatalf("got %v, %v", err, res)
				}
				if !strings.Contains(log.String(), "0xdeadbeef") {
					t.Error("the failure is not in the server log")
				}
			default:
				// The client itself failed to fulfil the input request.
				if err == nil {
					t.Fatalf("got %q, want a client-side error", text(res))
				}
			}
		})
	}
}

func TestPanicRecovery(t *testing.T) {
	for _, era := range eras {
		t.Run(era, func(t *testing.T) {
			a, log := testApp(t, serverOptions{})
			mcp.AddTool(a.server, &mcp.Tool{Name: "boom"}, func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
				var m map[string]int
				m["password=hunter2"]++ // nil map: panics
				return nil, nil, nil
			})
			a.server.AddResource(&mcp.Resource{URI: "test://boom", Name: "boom"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
				panic("resource exploded with secret s3cr3t")
			})
			cs := connect(t, a, era, nil)
			res := callTool(t, cs, "boom", map[string]any{})
			got := text(res)
			if !res.IsError || !strings.Contains(got, "internal error (reference ") || strings.Contains(got, "hunter2") || strings.Contains(got, "nil map") {
				t.Fatalf("panicking tool answered isError=%v %q", res.IsError, got)
			}
			ref := strings.TrimSuffix(strings.SplitN(strings.SplitN(got, "reference ", 2)[1], ")", 2)[0], ")")
			logs := log.String()
			for _, want := range []string{"panic in MCP handler (recovered)", `"ref":"` + ref + `"`, "assignment to entry in nil map", "runtime/debug.Stack", `"tool":"boom"`} {
				if !strings.Contains(logs, want) {
					t.Errorf("log lacks %q", want)
				}
			}

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://boom"})
			var werr *jsonrpc.Error
			if !errors.As(err, &werr) || werr.Code != jsonrpc.CodeInternalError || strings.Contains(werr.Message, "s3cr3t") {
				t.Fatalf("panicking resource: %v", err)
			}

			// The process and the session survive.
			if res := callTool(t, cs, "convert_units", map[string]any{"value": 1, "from": "km", "to": "m"}); res.IsError {
				t.Fatalf("after the panic: %s", text(res))
			}
			if p, e := a.stats.panics.Load(), a.stats.errors.Load(); p != 2 || e != 2 {
				t.Errorf("panics %d errors %d, want 2 and 2", p, e)
			}
		})
	}
}

// fakeClock is a settable clock.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func newFakeClock(t time.Time) *fakeClock    { c := &fakeClock{}; c.ns.Store(t.UnixNano()); return c }
func healthOf(t *testing.T, cs *mcp.ClientSession) healthReport {
	t.Helper()
	res := callTool(t, cs, "health", nil)
	if res.IsError {
		t.Fatalf("health: %s", text(res))
	}
	var rep healthReport
	structured(t, res, &rep)
	if rep.Scope != "instance" || !strings.Contains(text(res), "one instance's view") {
		t.Errorf("the report is not labelled as one instance's view: %q", text(res))
	}
	return rep
}

func TestHealth(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC))
	var storeDown atomic.Bool
	a, log := testApp(t, serverOptions{
		InstanceID: "inst-7",
		Version:    "v1.2.3",
		Revision:   "mcpfleet-00042-abc",
		StoreKind:  "redis",
		Now:        clock.Now,
		Ready: func(ctx context.Context) error {
			time.Sleep(5 * time.Millisecond)
			if storeDown.Load() {
				return errors.New("state store: dial tcp 10.1.2.3:6379: connect: connection refused")
			}
			return nil
		},
		ErrorRateDegraded: 0.1,
		Quotes:            &simulatedQuotes{FailureRate: 1},
	})
	cs := connect(t, a, "2025-11-25", nil)
	clock.Advance(90 * time.Second)

	rep := healthOf(t, cs)
	if rep.Status != "healthy" || len(rep.Reasons) != 0 {
		t.Fatalf("fresh instance: %+v", rep)
	}
	if rep.Instance.ID != "inst-7" || rep.Instance.Version != "v1.2.3" || rep.Instance.Revision != "mcpfleet-00042-abc" ||
		rep.Instance.UptimeSeconds != 90 {
		t.Errorf("instance %+v", rep.Instance)
	}
	if !rep.StateStore.Reachable || rep.StateStore.Kind != "redis" || rep.StateStore.LatencyMS < 5 {
		t.Errorf("state store %+v", rep.StateStore)
	}

	// One failure among few requests: no verdict yet.
	callTool(t, cs, "fetch_quote", map[string]any{"symbol": "ACME"})
	if rep := healthOf(t, cs); rep.Status != "healthy" || rep.Requests.Errors != 1 {
		t.Fatalf("after one error: %+v", rep)
	}

	// 2 errors in 13 requests (15%) is above 10%.
	for range 9 {
		callTool(t, cs, "convert_units", map[string]any{"value": 1, "from": "m", "to": "ft"})
	}
	callTool(t, cs, "fetch_quote", map[string]any{"symbol": "ACME"})
	callTool(t, cs, "convert_units", map[string]any{"value": 1, "from": "m", "to": "kg"}) // a client error
	rep = healthOf(t, cs)
	if rep.Status != "degraded" || len(rep.Reasons) != 1 || !strings.Contains(rep.Reasons[0], "error rate") {
		t.Fatalf("after 2 errors: %+v", rep)
	}
	r := rep.Requests
	// initialize, 2 health calls, 2 fetch_quote, 10 convert_units (+ this health call, not yet counted)
	if r.Total != 15 || r.Errors != 2 || r.ClientErrors != 1 || r.WindowRequests != 15 || r.WindowErrorRate != 0.1333 || r.DegradedAbove != 0.1 {
		t.Errorf("requests %+v", r)
	}

	// The window forgets; the totals do not.
	clock.Advance(6 * time.Minute)
	rep = healthOf(t, cs)
	if rep.Status != "healthy" || rep.Requests.WindowRequests != 0 || rep.Requests.Errors != 2 {
		t.Fatalf("6 minutes later: %+v", rep)
	}

	// An unreachable store degrades the instance, without saying where it is.
	storeDown.Store(true)
	res := callTool(t, cs, "health", nil)
	var down healthReport
	structured(t, res, &down)
	if down.Status != "degraded" || down.StateStore.Reachable || down.StateStore.Error != "unreachable" ||
		strings.Contains(text(res), "10.1.2.3") || !strings.Contains(text(res), "state store (redis) is unreachable") {
		t.Fatalf("store down: %+v %q", down, text(res))
	}
	if !strings.Contains(log.String(), "10.1.2.3") {
		t.Error("the store error is not in the log")
	}
}

func TestResourceAndPrompt(t *testing.T) {
	a, _ := testApp(t, serverOptions{InstanceID: "inst-9", StoreKind: "memory",
		Limits: limits{RequestTimeout: time.Minute, MaxConcurrentRequests: 42}})
	cs := connect(t, a, "2026-07-28", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: instanceURI})
	if err != nil {
		t.Fatal(err)
	}
	var info instanceInfo
	if len(rr.Contents) != 1 || rr.Contents[0].MIMEType != "application/json" || json.Unmarshal([]byte(rr.Contents[0].Text), &info) != nil {
		t.Fatalf("contents %+v", rr.Contents)
	}
	if info.Instance != "inst-9" || info.StateStore != "memory" || info.RequestTimeout != "1m0s" || info.MaxConcurrentRequests != 42 {
		t.Errorf("instance %+v", info)
	}
	if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "mcpfleet://nope"}); err == nil {
		t.Error("unknown resource read")
	}

	for _, tc := range []struct {
		name string
		args map[string]string
		want string // in the message, or the error
		code int64
	}{
		{"default style", map[string]string{"text": "The quick brown fox."}, "bullet points", 0},
		{"headline", map[string]string{"text": "x", "style": "Headline"}, "single headline", 0},
		{"missing text", map[string]string{"style": "paragraph"}, `"text" is required`, jsonrpc.CodeInvalidParams},
		{"bad style", map[string]string{"text": "x", "style": "haiku"}, `want bullets, paragraph or headline`, jsonrpc.CodeInvalidParams},
		{"too long", map[string]string{"text": strings.Repeat("x", maxPromptText+1)}, "longer than", jsonrpc.CodeInvalidParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "summarize", Arguments: tc.args})
			if tc.code != 0 {
				var werr *jsonrpc.Error
				if !errors.As(err, &werr) || werr.Code != tc.code || !strings.Contains(werr.Message, tc.want) {
					t.Fatalf("got %v, want code %d %q", err, tc.code, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			msg := res.Messages[0].Content.(*mcp.TextContent).Text
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, tc.args["text"]) {
				t.Errorf("message %q", msg)
			}
		})
	}
	if e := a.stats.errors.Load(); e != 0 {
		t.Errorf("%d errors counted for client mistakes", e)
	}
}

func TestToolsListed(t *testing.T) {
	a, _ := testApp(t, serverOptions{})
	cs := connect(t, a, "2026-07-28", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		if tool.Description == "" || tool.Annotations == nil || tool.OutputSchema == nil {
			t.Errorf("%s: description, annotations and output schema expected", tool.Name)
		}
	}
	if got := strings.Join(names, ","); got != "confirm_action,convert_units,fetch_quote,health,long_task" {
		t.Errorf("tools %s", got)
	}
}
