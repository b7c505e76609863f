package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// serverOptions configure the MCP server built by newServer.
type serverOptions struct {
	Name       string // reported to clients
	Version    string
	InstanceID string // this process; the handler's instance ID
	Revision   string // Cloud Run revision (K_REVISION), if any
	StoreKind  string // "redis" or "memory"

	// Ready probes the state store (handler.Handler.Ready). Nil: always
	// reachable.
	Ready func(context.Context) error

	Limits limits

	// ErrorRateDegraded is the error ratio above which the health tool
	// reports "degraded".
	ErrorRateDegraded float64

	// Quotes is fetch_quote's upstream. Nil: a simulated upstream that
	// never fails.
	Quotes quoteSource

	Logger *slog.Logger

	// Now is the clock (tests). Nil: time.Now.
	Now func() time.Time
}

// limits are the configured bounds, shown by the instance resource.
type limits struct {
	SessionTTL            time.Duration
	RequestTimeout        time.Duration
	MaxBodyBytes          int64
	MaxConcurrentRequests int
}

// app is the reference MCP server: the go-sdk server with its tools,
// resource and prompt, and the counters behind the health tool.
type app struct {
	server  *mcp.Server
	opts    serverOptions
	log     *slog.Logger
	stats   *stats
	started time.Time
}

// Names of what the server offers.
const (
	instanceURI = "mcpfleet://instance"
)

// newServer builds the MCP server. Its receiving middleware counts requests
// and errors for the health tool and recovers panics; install the fleet
// handler (handler.New) afterwards.
func newServer(opts serverOptions) *app {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Quotes == nil {
		opts.Quotes = &simulatedQuotes{}
	}
	if opts.ErrorRateDegraded <= 0 {
		opts.ErrorRateDegraded = 0.1
	}
	if opts.Limits.RequestTimeout <= 0 {
		opts.Limits.RequestTimeout = 5 * time.Minute
	}
	if opts.StoreKind == "" {
		opts.StoreKind = "memory"
	}
	a := &app{
		opts:    opts,
		log:     opts.Logger,
		stats:   &stats{now: opts.Now},
		started: opts.Now(),
	}
	a.server = mcp.NewServer(&mcp.Implementation{
		Name:    opts.Name,
		Title:   "mcpfleet reference server",
		Version: opts.Version,
	}, &mcp.ServerOptions{
		Instructions: "Example tools of the mcpfleet reference server. " +
			"convert_units converts between units; fetch_quote returns a (simulated) stock quote and may fail transiently, in which case retry; " +
			"long_task runs a cancellable multi-step job with progress; confirm_action asks the user before acting; " +
			"health reports the state of the one server instance that answers. " +
			"The resource " + instanceURI + " describes that instance; the prompt summarize asks for a summary of a text.",
		Logger: sdkLogger(opts.Logger),
	})
	a.server.AddReceivingMiddleware(a.middleware)
	a.addTools()
	a.addResources()
	a.addPrompts()
	return a
}

// sdkLogger is the logger handed to go-sdk. go-sdk logs the connection and
// disconnection of every session at Info, and the fleet handler serves each
// request with its own short-lived session: three lines per request. Below
// Warn they are kept only when the process logs at Debug.
func sdkLogger(l *slog.Logger) *slog.Logger {
	l = l.With("component", "mcp")
	if l.Enabled(context.Background(), slog.LevelDebug) {
		return l
	}
	return slog.New(minLevel{l.Handler(), slog.LevelWarn})
}

// minLevel drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}

// ---- counting, panics ----

// outcome classifies the answer to one request.
type outcome int

const (
	outcomeOK          outcome = iota
	outcomeClientError         // the request was wrong: invalid input, unknown tool
	outcomeError               // the server failed: dependency, timeout, bug
	outcomeCancelled           // the client cancelled
	outcomePanic               // a handler panicked (also an error)
)

func (o outcome) String() string {
	return [...]string{"ok", "client_error", "error", "cancelled", "panic"}[o]
}

// middleware counts every request (not notifications) and its outcome,
// recovers a panicking handler, and logs each tool call.
//
// A panic is recovered only when it happens on the goroutine that serves the
// request; a handler that starts goroutines must recover in them itself.
func (a *app) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (res mcp.Result, err error) {
		if strings.HasPrefix(method, "notifications/") {
			return next(ctx, method, req)
		}
		start := time.Now()
		defer func() {
			out := outcomeOK
			if p := recover(); p != nil {
				out = outcomePanic
				ref := errorRef()
				a.log.Error("panic in MCP handler (recovered)", "method", method, "tool", toolName(req),
					"panic", fmt.Sprint(p), "ref", ref, "stack", string(debug.Stack()))
				res, err = panicAnswer(method, ref)
			} else {
				out = classify(ctx, res, err)
			}
			a.stats.record(out)
			if method == "tools/call" {
				level := slog.LevelInfo
				if out == outcomeError || out == outcomePanic {
					level = slog.LevelWarn
				}
				attrs := []any{"tool", toolName(req), "outcome", out.String(),
					"duration_ms", time.Since(start).Milliseconds()}
				if m := toolErrorText(res, err); m != "" && out != outcomeOK {
					attrs = append(attrs, "error", m)
				}
				a.log.Log(ctx, level, "tool call", attrs...)
			}
		}()
		return next(ctx, method, req)
	}
}

// panicAnswer is the answer to a request whose handler panicked: a tool
// error for tools/call (the model sees that the tool failed), an internal
// JSON-RPC error otherwise. Neither says more than a reference to the log.
func panicAnswer(method, ref string) (mcp.Result, error) {
	msg := fmt.Sprintf("internal error (reference %s); the server log has the details", ref)
	if method == "tools/call" {
		res := &mcp.CallToolResult{}
		res.SetError(&toolError{kind: kindInternal, msg: msg})
		return res, nil
	}
	return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: msg}
}

// classify maps an answer to an outcome.
func classify(ctx context.Context, res mcp.Result, err error) outcome {
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled) {
			return outcomeCancelled
		}
		var werr *jsonrpc.Error
		if errors.As(err, &werr) {
			switch werr.Code {
			case jsonrpc.CodeParseError, jsonrpc.CodeInvalidRequest, jsonrpc.CodeMethodNotFound,
				jsonrpc.CodeInvalidParams, mcp.CodeResourceNotFound,
				mcp.CodeMissingRequiredClientCapabilities, mcp.CodeUnsupportedProtocolVersion:
				return outcomeClientError
			}
		}
		return outcomeError
	}
	tr, ok := res.(*mcp.CallToolResult)
	if !ok || tr == nil || !tr.IsError {
		return outcomeOK
	}
	terr := tr.GetError()
	var te *toolError
	switch {
	case errors.As(terr, &te):
		if te.kind == kindInvalidInput {
			return outcomeClientError
		}
		return outcomeError
	case errors.Is(terr, context.Canceled):
		return outcomeCancelled
	case terr != nil && strings.HasPrefix(terr.Error(), `validating "arguments"`):
		// go-sdk's own validation of the arguments against the input
		// schema (mcp.AddTool).
		return outcomeClientError
	}
	return outcomeError
}

func toolName(req mcp.Request) string {
	if p, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok && p != nil {
		return p.Name
	}
	return ""
}

func toolErrorText(res mcp.Result, err error) string {
	if err != nil {
		return err.Error()
	}
	if tr, ok := res.(*mcp.CallToolResult); ok && tr != nil && tr.IsError {
		if e := tr.GetError(); e != nil {
			return e.Error()
		}
	}
	return ""
}

// errorRef is a short random reference that ties an error a client sees to
// the log line with its details.
func errorRef() string { return strings.ToLower(rand.Text()[:10]) }

// errKind says whose fault a tool error is, which decides how it counts.
type errKind int

const (
	kindInternal     errKind = iota // the server failed; details are only in the log
	kindInvalidInput                // the caller's input is wrong; fix it, do not retry as is
	kindTransient                   // a dependency failed; retrying later may succeed
)

// toolError is the error a tool returns: its message is what the client
// sees (isError: true), its kind is counted by the middleware.
type toolError struct {
	kind errKind
	msg  string
}

func (e *toolError) Error() string { return e.msg }

func invalidInput(format string, args ...any) error {
	return &toolError{kind: kindInvalidInput, msg: fmt.Sprintf(format, args...)}
}

func transient(msg string) error { return &toolError{kind: kindTransient, msg: msg} }

// internalError logs err with a reference and returns a tool error that
// names only the reference: internals never reach the client.
func (a *app) internalError(ctx context.Context, op string, err error) error {
	ref := errorRef()
	a.log.ErrorContext(ctx, "tool failed", "op", op, "ref", ref, "err", err)
	return &toolError{kind: kindInternal, msg: fmt.Sprintf("internal error while %s (reference %s)", op, ref)}
}

// ---- statistics ----

// Window of the error rate that decides "degraded": the last
// windowBuckets minutes, the current one included.
const (
	windowBuckets    = 5
	bucketWidth      = time.Minute
	minWindowSamples = 10 // fewer requests than this in the window: no verdict on the rate
)

// stats are one instance's request counters. Totals count since start; the
// window (per-minute buckets) gives the recent error rate. All counters are
// atomic: the middleware runs on many goroutines at once.
type stats struct {
	now func() time.Time

	requests, errors, clientErrors, cancelled, panics atomic.Int64
	rejected                                          atomic.Int64 // 503s of the concurrency limit (HTTP)

	window [windowBuckets]bucket
}

type bucket struct {
	slot             atomic.Int64 // minute number this bucket counts
	requests, errors atomic.Int64
}

func (s *stats) record(o outcome) {
	s.requests.Add(1)
	failed := false
	switch o {
	case outcomeError:
		s.errors.Add(1)
		failed = true
	case outcomePanic:
		s.errors.Add(1)
		s.panics.Add(1)
		failed = true
	case outcomeClientError:
		s.clientErrors.Add(1)
	case outcomeCancelled:
		s.cancelled.Add(1)
	}
	b := s.bucket(s.now())
	b.requests.Add(1)
	if failed {
		b.errors.Add(1)
	}
}

// bucket returns the bucket of t's minute, resetting it when it still holds
// an older minute. Counts that race with the reset may be lost: the window
// is an approximation, the totals are exact.
func (s *stats) bucket(t time.Time) *bucket {
	slot := t.UnixNano() / int64(bucketWidth)
	b := &s.window[slot%windowBuckets]
	if old := b.slot.Load(); old != slot && b.slot.CompareAndSwap(old, slot) {
		b.requests.Store(0)
		b.errors.Store(0)
	}
	return b
}

// windowCounts sums the buckets of the last windowBuckets minutes.
func (s *stats) windowCounts(t time.Time) (requests, errors int64) {
	slot := t.UnixNano() / int64(bucketWidth)
	for i := range s.window {
		b := &s.window[i]
		if age := slot - b.slot.Load(); age >= 0 && age < windowBuckets {
			requests += b.requests.Load()
			errors += b.errors.Load()
		}
	}
	return requests, errors
}

// ---- resource ----

// instanceInfo is the content of the instance resource.
type instanceInfo struct {
	Instance              string `json:"instance"`
	Server                string `json:"server"`
	Version               string `json:"version"`
	Revision              string `json:"revision,omitempty"`
	StartedAt             string `json:"started_at"`
	UptimeSeconds         int64  `json:"uptime_seconds"`
	StateStore            string `json:"state_store"`
	SessionTTL            string `json:"session_ttl,omitempty"`
	RequestTimeout        string `json:"request_timeout"`
	MaxBodyBytes          int64  `json:"max_body_bytes,omitempty"`
	MaxConcurrentRequests int    `json:"max_concurrent_requests"`
	Note                  string `json:"note"`
}

func (a *app) instance() instanceInfo {
	l := a.opts.Limits
	info := instanceInfo{
		Instance:              a.opts.InstanceID,
		Server:                a.opts.Name,
		Version:               a.opts.Version,
		Revision:              a.opts.Revision,
		StartedAt:             a.started.UTC().Format(time.RFC3339),
		UptimeSeconds:         int64(a.opts.Now().Sub(a.started).Seconds()),
		StateStore:            a.opts.StoreKind,
		RequestTimeout:        l.RequestTimeout.String(),
		MaxBodyBytes:          l.MaxBodyBytes,
		MaxConcurrentRequests: l.MaxConcurrentRequests,
		Note:                  "The instance that served this read. Behind a load balancer, consecutive requests may reach different instances.",
	}
	if l.SessionTTL > 0 {
		info.SessionTTL = l.SessionTTL.String()
	}
	return info
}

func (a *app) addResources() {
	a.server.AddResource(&mcp.Resource{
		URI:         instanceURI,
		Name:        "instance",
		Title:       "Server instance",
		Description: "The server instance that serves the read: ID, version, uptime, state store and limits (JSON).",
		MIMEType:    "application/json",
	}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		data, err := json.MarshalIndent(a.instance(), "", "  ")
		if err != nil {
			return nil, err
		}
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
			URI: instanceURI, MIMEType: "application/json", Text: string(data),
		}}}, nil
	})
}

// ---- prompt ----

// summaryStyle returns the instruction for a style of the summarize prompt.
func summaryStyle(style string) (string, bool) {
	switch style {
	case "bullets":
		return "as at most five short bullet points", true
	case "paragraph":
		return "as one short paragraph", true
	case "headline":
		return "as a single headline of at most twelve words", true
	}
	return "", false
}

// maxPromptText bounds the text of the summarize prompt (characters).
const maxPromptText = 100_000

func (a *app) addPrompts() {
	a.server.AddPrompt(&mcp.Prompt{
		Name:        "summarize",
		Title:       "Summarize a text",
		Description: "Asks the model to summarize a text, as bullet points (default), a paragraph or a headline.",
		Arguments: []*mcp.PromptArgument{
			{Name: "text", Description: "The text to summarize.", Required: true},
			{Name: "style", Description: "bullets (default), paragraph or headline."},
		},
	}, func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		args := req.Params.Arguments
		text := strings.TrimSpace(args["text"])
		style := strings.ToLower(strings.TrimSpace(args["style"]))
		if style == "" {
			style = "bullets"
		}
		how, ok := summaryStyle(style)
		switch {
		case text == "":
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: `argument "text" is required and must not be blank`}
		case len(text) > maxPromptText:
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf(`argument "text" is longer than %d characters`, maxPromptText)}
		case !ok:
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf(`argument "style" is %q; want bullets, paragraph or headline`, style)}
		}
		return &mcp.GetPromptResult{
			Description: "Summarize a text " + how,
			Messages: []*mcp.PromptMessage{{
				Role: "user",
				Content: &mcp.TextContent{Text: "Summarize the text between the markers " + how +
					". Keep facts, names and numbers exact; add nothing that is not in the text.\n\n" +
					"<<<TEXT\n" + text + "\nTEXT>>>"},
			}},
		}, nil
	})
}
