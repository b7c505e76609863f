package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tool errors follow one rule: a tool returns a *toolError (invalidInput,
// transient, a.internalError), whose message is all the client sees, as a
// result with isError: true, so the model can read it and react (fix the
// input, retry later, give up). Details of internal failures go to the log
// under a reference. JSON-RPC errors are left to protocol failures (unknown
// tool, malformed request).

func (a *app) addTools() {
	yes, no := true, false
	mcp.AddTool(a.server, &mcp.Tool{
		Name:  "convert_units",
		Title: "Convert units",
		Description: "Converts a value between units of length, mass, volume, time or temperature, " +
			"e.g. 3 mi to km, 70 degF to degC. Units are symbols or names: " + unitSymbols() + ".",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: &no},
	}, a.convertUnits)

	mcp.AddTool(a.server, &mcp.Tool{
		Name:  "fetch_quote",
		Title: "Fetch a stock quote",
		Description: "Returns the last price of a ticker symbol from the quote service (simulated in this reference server). " +
			"The service can be temporarily unavailable; the error then says so and when to retry.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: &yes},
	}, a.fetchQuote)

	mcp.AddTool(a.server, &mcp.Tool{
		Name:  "long_task",
		Title: "Run a long task",
		Description: "Runs a job of several steps (simulated: each step waits), reporting progress after each step " +
			"when the request carries a progress token. It stops when the call is cancelled.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: &no},
	}, a.longTask)

	mcp.AddTool(a.server, &mcp.Tool{
		Name:  "confirm_action",
		Title: "Confirm an action",
		Description: "Asks the user to confirm an action before it is carried out, and reports the answer " +
			"(confirmed, rejected, declined or cancelled). The action itself is simulated: nothing is changed.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: &yes, OpenWorldHint: &no},
	}, a.confirmAction)

	mcp.AddTool(a.server, &mcp.Tool{
		Name:  "health",
		Title: "Instance health",
		Description: "Reports the health of the server instance that answers this call: identity, uptime, " +
			"request and error counts, state store reachability and latency, and healthy/degraded. " +
			"It is one instance's view: other instances of the fleet keep their own counts.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: &no},
	}, a.health)
}

// ---- convert_units ----

type convertIn struct {
	Value float64 `json:"value" jsonschema:"the quantity to convert"`
	From  string  `json:"from" jsonschema:"unit of value, e.g. mi, kg, degF"`
	To    string  `json:"to" jsonschema:"unit to convert to, of the same dimension"`
}

type convertOut struct {
	Value     float64 `json:"value"`
	From      string  `json:"from" jsonschema:"unit symbol"`
	To        string  `json:"to" jsonschema:"unit symbol"`
	Result    float64 `json:"result" jsonschema:"value in unit to, rounded to 12 significant digits"`
	Dimension string  `json:"dimension" jsonschema:"length, mass, volume, time or temperature"`
}

func (a *app) convertUnits(ctx context.Context, req *mcp.CallToolRequest, in convertIn) (*mcp.CallToolResult, convertOut, error) {
	from, ok := lookupUnit(in.From)
	if !ok {
		return nil, convertOut{}, invalidInput("unknown unit %q in \"from\"; supported: %s", in.From, unitSymbols())
	}
	to, ok := lookupUnit(in.To)
	if !ok {
		return nil, convertOut{}, invalidInput("unknown unit %q in \"to\"; supported: %s", in.To, unitSymbols())
	}
	if from.dim != to.dim {
		return nil, convertOut{}, invalidInput("cannot convert %s (%s) to %s (%s): different dimensions", from.dim, from.symbol, to.dim, to.symbol)
	}
	if from.dim == "temperature" && (in.Value+from.offset)*from.factor < 0 {
		return nil, convertOut{}, invalidInput("%s %s is below absolute zero", formatNumber(in.Value), from.symbol)
	}
	r := roundSig(convert(in.Value, from, to))
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return nil, convertOut{}, invalidInput("%s %s in %s is out of range", formatNumber(in.Value), from.symbol, to.symbol)
	}
	out := convertOut{Value: in.Value, From: from.symbol, To: to.symbol, Result: r, Dimension: from.dim}
	return textResult("%s %s = %s %s", formatNumber(in.Value), from.symbol, formatNumber(r), to.symbol), out, nil
}

// ---- fetch_quote ----

type quoteIn struct {
	Symbol string `json:"symbol" jsonschema:"ticker symbol: 1-10 letters, digits, '.' or '-', e.g. GOOG, BRK.B"`
}

// Upstream call policy of fetch_quote: a bounded wait per attempt, one quick
// retry (reads are idempotent), then a transient error for the client.
const (
	quoteAttemptTimeout = 3 * time.Second
	quoteAttempts       = 2
	quoteBackoff        = 150 * time.Millisecond
	quoteRetryHint      = "2 seconds"
)

func (a *app) fetchQuote(ctx context.Context, req *mcp.CallToolRequest, in quoteIn) (*mcp.CallToolResult, quote, error) {
	sym := strings.ToUpper(strings.TrimSpace(in.Symbol))
	if !validSymbol(sym) {
		return nil, quote{}, invalidInput("invalid symbol %q: want 1-10 letters, digits, '.' or '-' (e.g. GOOG, BRK.B)", in.Symbol)
	}
	for attempt := 1; attempt <= quoteAttempts; attempt++ {
		if attempt > 1 {
			if err := sleep(ctx, quoteBackoff); err != nil {
				return nil, quote{}, err
			}
		}
		actx, cancel := context.WithTimeout(ctx, quoteAttemptTimeout)
		q, err := a.opts.Quotes.Quote(actx, sym)
		cancel()
		if err == nil {
			return textResult("%s: %.2f %s (as of %s; source: %s)", q.Symbol, q.Price, q.Currency, q.AsOf, q.Source), q, nil
		}
		if ctx.Err() != nil {
			return nil, quote{}, ctx.Err() // the call itself was cancelled or timed out
		}
		if !errors.Is(err, errUpstreamUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, quote{}, a.internalError(ctx, "fetching a quote", err)
		}
		a.log.WarnContext(ctx, "quote upstream failed", "attempt", attempt, "symbol", sym, "err", err)
	}
	// The upstream's error is logged above; the client gets no details.
	return nil, quote{}, transient("The quote service is temporarily unavailable. This is a transient error: " +
		"nothing was changed, and the same call is expected to succeed if retried in about " + quoteRetryHint + ".")
}

func validSymbol(s string) bool {
	if len(s) < 1 || len(s) > 10 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// ---- long_task ----

type longTaskIn struct {
	Steps  int `json:"steps,omitempty" jsonschema:"number of steps, 1-100 (default 5)"`
	StepMS int `json:"step_ms,omitempty" jsonschema:"duration of one step in milliseconds, 10-10000 (default 1000)"`
}

type longTaskOut struct {
	Steps      int   `json:"steps" jsonschema:"steps completed"`
	DurationMS int64 `json:"duration_ms"`
}

func (a *app) longTask(ctx context.Context, req *mcp.CallToolRequest, in longTaskIn) (*mcp.CallToolResult, longTaskOut, error) {
	if in.Steps == 0 {
		in.Steps = 5
	}
	if in.StepMS == 0 {
		in.StepMS = 1000
	}
	if in.Steps < 1 || in.Steps > 100 {
		return nil, longTaskOut{}, invalidInput("steps is %d; want 1-100", in.Steps)
	}
	if in.StepMS < 10 || in.StepMS > 10000 {
		return nil, longTaskOut{}, invalidInput("step_ms is %d; want 10-10000", in.StepMS)
	}
	step := time.Duration(in.StepMS) * time.Millisecond
	if total := time.Duration(in.Steps) * step; total > a.opts.Limits.RequestTimeout {
		return nil, longTaskOut{}, invalidInput("the task would take %s, longer than the server's request timeout (%s); use fewer or shorter steps",
			total, a.opts.Limits.RequestTimeout)
	}
	start := time.Now()
	token := req.Params.GetProgressToken()
	for i := 1; i <= in.Steps; i++ {
		if err := sleep(ctx, step); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil, longTaskOut{}, &toolError{kind: kindInternal,
					msg: fmt.Sprintf("long_task timed out after %d of %d steps", i-1, in.Steps)}
			}
			return nil, longTaskOut{}, err // cancelled: nobody waits for an answer
		}
		if token == nil {
			continue
		}
		// Progress is best effort: a lost notification must not fail the job.
		if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
			ProgressToken: token,
			Progress:      float64(i),
			Total:         float64(in.Steps),
			Message:       fmt.Sprintf("step %d of %d done", i, in.Steps),
		}); err != nil {
			a.log.DebugContext(ctx, "progress notification not sent", "err", err)
		}
	}
	d := time.Since(start)
	return textResult("Completed %d steps in %s.", in.Steps, d.Round(time.Millisecond)),
		longTaskOut{Steps: in.Steps, DurationMS: d.Milliseconds()}, nil
}

// ---- confirm_action ----

type confirmIn struct {
	Action string `json:"action" jsonschema:"the action to confirm, as the user should read it, e.g. 'Delete the project demo'"`
}

type confirmOut struct {
	Action  string `json:"action"`
	Outcome string `json:"outcome" jsonschema:"confirmed, rejected (the user said no), declined (the user refused to answer) or cancelled (the user dismissed the question)"`
}

// confirmKey names the confirmation in 2026-07-28 input requests.
const confirmKey = "confirm"

func (a *app) confirmAction(ctx context.Context, req *mcp.CallToolRequest, in confirmIn) (*mcp.CallToolResult, confirmOut, error) {
	action := strings.TrimSpace(in.Action)
	switch {
	case action == "":
		return nil, confirmOut{}, invalidInput(`"action" must describe the action to confirm`)
	case utf8.RuneCountInString(action) > 200:
		return nil, confirmOut{}, invalidInput(`"action" is longer than 200 characters`)
	}
	if caps := req.ClientCapabilities(); caps == nil || caps.Elicitation == nil {
		return nil, confirmOut{}, invalidInput("this client cannot ask its user for confirmation (it did not declare the elicitation capability), " +
			"so the action was not carried out")
	}
	params := &mcp.ElicitParams{
		Message: "Allow this action? " + action,
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"confirm": map[string]any{"type": "boolean", "title": "Proceed", "description": "Carry out: " + action},
			},
			"required": []string{"confirm"},
		},
	}

	var answer *mcp.ElicitResult
	if req.ProtocolVersion() >= "2026-07-28" {
		// Sessionless protocol: no server-to-client requests. The question
		// goes back as an input request; the client asks the user and
		// retries this call with the answer, on whichever instance.
		r, ok := req.Params.InputResponses[confirmKey].(*mcp.ElicitResult)
		if !ok || r == nil {
			return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{confirmKey: params}}, confirmOut{}, nil
		}
		answer = r
	} else {
		// Session protocol: ask over the session. The answer may arrive at
		// another instance; the fleet handler routes it back here.
		r, err := req.Session.Elicit(ctx, params)
		if err != nil {
			if ctx.Err() != nil {
				return nil, confirmOut{}, ctx.Err()
			}
			return nil, confirmOut{}, a.internalError(ctx, "asking the user for confirmation", err)
		}
		answer = r
	}

	out := confirmOut{Action: action}
	switch answer.Action {
	case "accept":
		if ok, _ := answer.Content["confirm"].(bool); ok {
			out.Outcome = "confirmed"
			return textResult("The user confirmed: %s. (Simulated: nothing was changed.)", action), out, nil
		}
		out.Outcome = "rejected"
		return textResult("The user answered no; the action was not carried out: %s", action), out, nil
	case "decline":
		out.Outcome = "declined"
		return textResult("The user declined to answer; the action was not carried out: %s", action), out, nil
	case "cancel":
		out.Outcome = "cancelled"
		return textResult("The user dismissed the question; the action was not carried out: %s", action), out, nil
	}
	return nil, confirmOut{}, a.internalError(ctx, "reading the user's answer", fmt.Errorf("unknown elicitation action %q", answer.Action))
}

// ---- health ----

type healthReport struct {
	Scope      string         `json:"scope" jsonschema:"always 'instance': the report covers only the instance that answered"`
	Status     string         `json:"status" jsonschema:"healthy or degraded"`
	Reasons    []string       `json:"reasons,omitempty" jsonschema:"why the status is degraded"`
	Instance   healthInstance `json:"instance"`
	Requests   healthRequests `json:"requests"`
	StateStore healthStore    `json:"state_store"`
	Note       string         `json:"note"`
}

type healthInstance struct {
	ID            string `json:"id"`
	Version       string `json:"version"`
	Revision      string `json:"revision,omitempty"`
	StartedAt     string `json:"started_at"`
	UptimeSeconds int64  `json:"uptime_seconds"`
}

type healthRequests struct {
	Total            int64   `json:"total" jsonschema:"MCP requests answered since start (notifications excluded)"`
	Errors           int64   `json:"errors" jsonschema:"server-side failures: dependencies, timeouts, bugs"`
	ClientErrors     int64   `json:"client_errors" jsonschema:"requests refused as invalid (not counted as errors)"`
	Cancelled        int64   `json:"cancelled"`
	Panics           int64   `json:"panics" jsonschema:"recovered handler panics (also counted in errors)"`
	RejectedOverload int64   `json:"rejected_overload" jsonschema:"HTTP requests refused with 503 at the concurrency limit"`
	WindowSeconds    int64   `json:"window_seconds" jsonschema:"length of the recent window"`
	WindowRequests   int64   `json:"window_requests"`
	WindowErrors     int64   `json:"window_errors"`
	WindowErrorRate  float64 `json:"window_error_rate"`
	DegradedAbove    float64 `json:"degraded_above" jsonschema:"error rate above which the instance is degraded (MCP_ERROR_RATE_DEGRADED)"`
	MinRequests      int64   `json:"min_window_requests" jsonschema:"requests the window needs before its error rate counts"`
}

type healthStore struct {
	Kind      string  `json:"kind" jsonschema:"redis or memory"`
	Reachable bool    `json:"reachable"`
	LatencyMS float64 `json:"latency_ms" jsonschema:"duration of the reachability probe"`
	Error     string  `json:"error,omitempty"`
}

// storeProbeTimeout bounds the health tool's store probe.
const storeProbeTimeout = 2 * time.Second

func (a *app) health(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, healthReport, error) {
	now := a.opts.Now()
	st := a.stats
	wreq, werr := st.windowCounts(now)
	rate := 0.0
	if wreq > 0 {
		rate = float64(werr) / float64(wreq)
	}
	rep := healthReport{
		Scope:  "instance",
		Status: "healthy",
		Instance: healthInstance{
			ID:            a.opts.InstanceID,
			Version:       a.opts.Version,
			Revision:      a.opts.Revision,
			StartedAt:     a.started.UTC().Format(time.RFC3339),
			UptimeSeconds: int64(now.Sub(a.started).Seconds()),
		},
		Requests: healthRequests{
			Total:            st.requests.Load(),
			Errors:           st.errors.Load(),
			ClientErrors:     st.clientErrors.Load(),
			Cancelled:        st.cancelled.Load(),
			Panics:           st.panics.Load(),
			RejectedOverload: st.rejected.Load(),
			WindowSeconds:    int64(windowBuckets * bucketWidth / time.Second),
			WindowRequests:   wreq,
			WindowErrors:     werr,
			WindowErrorRate:  math.Round(rate*10000) / 10000,
			DegradedAbove:    a.opts.ErrorRateDegraded,
			MinRequests:      minWindowSamples,
		},
		StateStore: healthStore{Kind: a.opts.StoreKind, Reachable: true},
		Note: "This is the view of one instance. Behind a load balancer, each call may reach another instance, " +
			"with its own counts; fleet-wide health belongs to your monitoring.",
	}
	if a.opts.Ready != nil {
		pctx, cancel := context.WithTimeout(ctx, storeProbeTimeout)
		t0 := time.Now()
		err := a.opts.Ready(pctx)
		rep.StateStore.LatencyMS = math.Round(float64(time.Since(t0).Microseconds())/10) / 100
		cancel()
		if err != nil {
			a.log.WarnContext(ctx, "health: state store probe failed", "err", err)
			rep.StateStore.Reachable = false
			rep.StateStore.Error = "unreachable"
			if errors.Is(err, context.DeadlineExceeded) {
				rep.StateStore.Error = fmt.Sprintf("no answer within %s", storeProbeTimeout)
			}
			rep.Reasons = append(rep.Reasons, "the state store ("+a.opts.StoreKind+") is unreachable")
		}
	}
	if wreq >= minWindowSamples && rate > a.opts.ErrorRateDegraded {
		rep.Reasons = append(rep.Reasons, fmt.Sprintf("error rate %.1f%% over the last %d requests (window %s) is above %.1f%%",
			rate*100, wreq, windowBuckets*bucketWidth, a.opts.ErrorRateDegraded*100))
	}
	if len(rep.Reasons) > 0 {
		rep.Status = "degraded"
	}

	storeText := "reachable"
	if !rep.StateStore.Reachable {
		storeText = rep.StateStore.Error
	}
	text := fmt.Sprintf("%s: instance %s (version %s, up %s): %d requests, %d errors, %d client errors since start; "+
		"%.1f%% errors in the last %s; state store %s %s (%.2f ms). This is one instance's view.",
		rep.Status, rep.Instance.ID, rep.Instance.Version, now.Sub(a.started).Round(time.Second),
		rep.Requests.Total, rep.Requests.Errors, rep.Requests.ClientErrors,
		rate*100, windowBuckets*bucketWidth, rep.StateStore.Kind, storeText, rep.StateStore.LatencyMS)
	if len(rep.Reasons) > 0 {
		text += " Degraded because: " + strings.Join(rep.Reasons, "; ") + "."
	}
	return textResult("%s", text), rep, nil
}

// ---- helpers ----

func textResult(format string, args ...any) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(format, args...)}}}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
