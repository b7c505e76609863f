// Package handler serves an [mcp.Server] over the MCP streamable HTTP
// transport from a fleet of stateless instances: every HTTP request of one MCP
// session may land on any instance, because the session lives in a
// [state.Store] (Redis in production), not in the process.
//
// One endpoint serves every protocol version go-sdk supports, routing each
// request:
//
//   - 2026-07-28 and later (sessionless; [MCP-Protocol-Version] header or
//     per-request _meta, and server/discover) go to go-sdk's stateless
//     handler: no store round trip for plain calls. Multi-round-trip
//     requestState is sealed with a key shared through the store, so a retry
//     may land on any instance.
//   - 2024-11-05 … 2025-11-25 (sessions, [Session Management]) are served by
//     an ephemeral go-sdk session per request, restored from the store.
//     Server-to-client requests, cancellations, detached notifications and
//     stream resumption ([Resumability]) work across instances.
//
// [MCP-Protocol-Version]: https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#protocol-version-header
// [Session Management]: https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#session-management
// [Resumability]: https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#resumability-and-redelivery
package handler

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpfleet/mcpfleet/state"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Protocol constants of the streamable HTTP transport.
const (
	headerSessionID       = "Mcp-Session-Id"
	headerProtocolVersion = "Mcp-Protocol-Version"
	headerLastEventID     = "Last-Event-ID"

	version20260728 = "2026-07-28"
	version20251125 = "2025-11-25"
	version20250618 = "2025-06-18"
	version20250326 = "2025-03-26"
	version20241105 = "2024-11-05"

	metaProtocolVersion = "io.modelcontextprotocol/protocolVersion"
)

// legacyVersions are the session-based protocol versions, newest first.
var legacyVersions = []string{version20251125, version20250618, version20250326, version20241105}

// Options configures a [Handler]. The zero value is usable: it keeps state
// in process memory, which is right for one process only.
type Options struct {
	// Store keeps sessions, event logs and cross-instance messages. Nil
	// means a new [state.Memory] (single process).
	Store state.Store

	// SessionTTL is the sliding idle lifetime of a session: every request
	// of the session extends it. Default 30 minutes.
	SessionTTL time.Duration

	// RequestTimeout bounds the work of one request (a tool call, say),
	// including the time it keeps running after its client disconnected.
	// Default 5 minutes.
	RequestTimeout time.Duration

	// MaxBodyBytes limits a request body; larger ones get 413. Default 4 MiB.
	MaxBodyBytes int64

	// EventLogLength caps the events kept per session for resumption.
	// Default 1000.
	EventLogLength int64

	// StateKey seals multi-round-trip requestState (AES-256-GCM); it must
	// be 32 bytes and the same on every instance. Nil means a key generated
	// once and shared through Store, so a retry may land on any instance
	// with no configuration.
	StateKey []byte

	// StateTTL is how long a sealed requestState stays valid. Default 10
	// minutes.
	StateTTL time.Duration

	// AllowedOrigins lists the Origin header values accepted besides the
	// request's own host ("https://app.example.com"). Requests with any
	// other Origin get 403 ([Security Warning] of the transport spec). "*"
	// allows every origin.
	//
	// [Security Warning]: https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#security-warning
	AllowedOrigins []string

	// DisableLocalhostProtection turns off DNS-rebinding protection:
	// by default a request that reached a loopback address with a
	// non-loopback Host header is refused with 403.
	DisableLocalhostProtection bool

	// RetryAfter is the hint sent with 503 answers when Store is
	// unavailable. Default 1 second.
	RetryAfter time.Duration

	// StreamRetry is the SSE retry hint sent when the server ends a stream
	// early (shutdown, polling), so the client reconnects, possibly to
	// another instance. Default 1 second.
	StreamRetry time.Duration

	// DeadlineMargin applies to requests whose context has a deadline: a
	// platform adapter sets one from the platform's own limit (the AWS
	// Lambda adapter: the invocation's deadline, after which the function
	// is frozen or killed). DeadlineMargin before it, the request's calls
	// still running are cancelled and answered with a JSON-RPC error
	// (-32001), and SSE streams end with the StreamRetry hint: GET streams
	// and 2025-11-25 call streams (whose answers then wait in the store), so
	// the client resumes with Last-Event-ID on another invocation; older
	// call streams carry the answer inline. No response is cut. Default 1
	// second.
	DeadlineMargin time.Duration

	// SessionCacheTTL is how long this instance reuses a session record it
	// loaded or wrote, so that a request of a session whose state did not
	// change costs no store round trip. Instances tell each other when a
	// session changes or ends, and the cache is dropped whenever that
	// channel reconnects; SessionCacheTTL bounds staleness should such a
	// message be lost otherwise. Default 5 seconds; negative turns the cache
	// off. Not used with an in-memory store.
	SessionCacheTTL time.Duration

	// InstanceID names this instance in cross-instance messages. Default:
	// random.
	InstanceID string

	// Logger receives operational logs. Default: discard.
	Logger *slog.Logger

	// Metrics receives operational measurements: SSE streams, deliveries
	// across instances, store operations, session lifetimes (see
	// [Metrics]). *telemetry.Metrics implements it. Nil: none.
	Metrics Metrics
}

// Handler is an [http.Handler] serving one [mcp.Server] at one MCP endpoint
// for every protocol era, with state in a [state.Store]. Create it with
// [New]; it is safe for concurrent use.
type Handler struct {
	server    *mcp.Server
	store     state.Store
	ownsStore bool
	opts      Options
	log       *slog.Logger
	metrics   Metrics // never nil
	instance  string

	cache   *sessionCache // nil: off
	allCh   <-chan []byte // the fleet-wide topic's messages, when cached
	busMu   sync.Mutex    // see fleetLoop
	busKick chan struct{}
	busWant atomic.Int32
	echoes  map[string]chan struct{} // publishFenced waiting for its echo, under mu

	sessionless     *mcp.StreamableHTTPHandler
	sessionlessJSON *mcp.StreamableHTTPHandler // for writers that cannot flush
	sealer          *sealer

	abandon chan struct{} // closed when Shutdown's deadline passes

	mu       sync.Mutex
	conns    map[string]*conn // by conn nonce: live ephemeral connections
	running  map[runKey]*conn // in-flight client calls, for cancellation
	bcastFns map[string][]func(context.Context, []byte)
	closed   bool
	draining chan struct{} // closed by Shutdown

	stopSubs []func()
	// Background work (calls running on after their POST returned),
	// counted under mu rather than with a sync.WaitGroup: requests may
	// start such work while Shutdown waits for it.
	bgRunning int
	bgIdle    chan struct{} // closed when bgRunning drops to 0; nil: nobody waits
}

type runKey struct {
	sid string
	id  string // raw JSON of the request ID
}

// New returns a Handler serving server. It installs receiving middleware on
// server (to persist session state and seal requestState), so server must
// not be shared with another handler. New makes no network calls: the store
// is first used by the first request.
func New(server *mcp.Server, opts *Options) (*Handler, error) {
	if server == nil {
		return nil, errors.New("handler: nil server")
	}
	h := &Handler{
		server:   server,
		conns:    make(map[string]*conn),
		running:  make(map[runKey]*conn),
		bcastFns: make(map[string][]func(context.Context, []byte)),
		draining: make(chan struct{}),
		abandon:  make(chan struct{}),
		echoes:   make(map[string]chan struct{}),
		busKick:  make(chan struct{}, 1),
	}
	if opts != nil {
		h.opts = *opts
	}
	o := &h.opts
	if o.StateKey != nil && len(o.StateKey) != 32 {
		return nil, fmt.Errorf("handler: StateKey must be 32 bytes, got %d", len(o.StateKey))
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 30 * time.Minute
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 5 * time.Minute
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 4 << 20
	}
	if o.EventLogLength <= 0 {
		o.EventLogLength = 1000
	}
	if o.StateTTL <= 0 {
		o.StateTTL = 10 * time.Minute
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	if o.StreamRetry <= 0 {
		o.StreamRetry = time.Second
	}
	if o.DeadlineMargin <= 0 {
		o.DeadlineMargin = time.Second
	}
	for _, origin := range o.AllowedOrigins {
		if origin == "*" {
			continue
		}
		if u, err := url.Parse(origin); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("handler: AllowedOrigins: %q is not an origin like https://host[:port]", origin)
		}
	}
	if o.InstanceID == "" {
		o.InstanceID = rand.Text()[:12]
	}
	if strings.ContainsAny(o.InstanceID, "~ \t\r\n") {
		return nil, fmt.Errorf("handler: InstanceID %q contains '~' or white space", o.InstanceID)
	}
	h.instance = o.InstanceID
	h.log = o.Logger
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.store = o.Store
	if h.store == nil {
		h.store = state.NewMemory(state.MemoryOptions{})
		h.ownsStore = true
	}
	if _, inMemory := h.store.(*state.Memory); !inMemory && o.SessionCacheTTL >= 0 {
		if o.SessionCacheTTL == 0 {
			o.SessionCacheTTL = 5 * time.Second
		}
		h.cache = newSessionCache(o.SessionCacheTTL)
	}
	h.metrics = noMetrics{}
	if o.Metrics != nil {
		h.metrics = o.Metrics
		h.store = meteredStore{Store: h.store, m: o.Metrics}
	}
	h.sealer = newSealer(o.StateKey, h.store, o.StateTTL)

	server.AddReceivingMiddleware(h.middleware)

	sessionless := func(jsonResponse bool) *mcp.StreamableHTTPHandler {
		return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{
			Stateless:    true,
			JSONResponse: jsonResponse,
			// Localhost protection and body limits are applied by Handler itself.
			DisableLocalhostProtection: true,
			MaxRequestBodyBytes:        o.MaxBodyBytes,
			Logger:                     h.log,
		})
	}
	h.sessionless = sessionless(false)
	h.sessionlessJSON = sessionless(true)

	h.subscribe()
	return h, nil
}

// ServeHTTP implements [http.Handler].
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.checkHostAndOrigin(w, r) {
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
	}
	version := r.Header.Get(headerProtocolVersion)
	if version != "" && version < version20260728 && !isLegacyVersion(version) {
		http.Error(w, fmt.Sprintf("Bad Request: unsupported protocol version %q (supported: %s, %s)",
			version, version20260728, strings.Join(legacyVersions, ", ")), http.StatusBadRequest)
		return
	}
	if version >= version20260728 {
		h.serveSessionless(w, r)
		return
	}
	switch r.Method {
	case http.MethodPost:
		h.servePOST(w, r)
	case http.MethodGet:
		h.serveGET(w, r)
	case http.MethodDelete:
		h.serveDELETE(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	}
}

// serveSessionless serves a 2026-07-28 request with go-sdk's stateless
// handler: with JSON answers through a writer that cannot flush, and ending
// DeadlineMargin before the request's deadline, if it has one.
func (h *Handler) serveSessionless(w http.ResponseWriter, r *http.Request) {
	if d, ok := r.Context().Deadline(); ok {
		ctx, cancel := context.WithDeadline(r.Context(), d.Add(-h.opts.DeadlineMargin))
		defer cancel()
		r = r.WithContext(ctx)
	}
	if !canFlush(w) {
		h.sessionlessJSON.ServeHTTP(w, r)
		return
	}
	h.sessionless.ServeHTTP(w, r)
}

func isLegacyVersion(v string) bool {
	for _, lv := range legacyVersions {
		if v == lv {
			return true
		}
	}
	return false
}

// checkHostAndOrigin applies DNS-rebinding protection and the Origin policy
// (transport spec, Security Warning). It writes a 403 and returns false when
// the request is refused.
func (h *Handler) checkHostAndOrigin(w http.ResponseWriter, r *http.Request) bool {
	if !h.opts.DisableLocalhostProtection {
		if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && addr != nil {
			if isLoopback(addr.String()) && !isLoopback(r.Host) {
				http.Error(w, fmt.Sprintf("Forbidden: invalid Host header %q", r.Host), http.StatusForbidden)
				return false
			}
		}
	}
	origin := r.Header.Get("Origin")
	if origin == "" || h.originAllowed(origin, r) {
		return true
	}
	http.Error(w, fmt.Sprintf("Forbidden: Origin %q is not allowed", origin), http.StatusForbidden)
	return false
}

func (h *Handler) originAllowed(origin string, r *http.Request) bool {
	for _, o := range h.opts.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if !strings.EqualFold(u.Host, r.Host) {
		return false
	}
	// Same host: a loopback origin is only trusted on a loopback host, which
	// the Host check above already established.
	return true
}

func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// storeError answers a failure of the state store: 503 with Retry-After for
// an unavailable store (the client retries, possibly on another instance),
// 500 for anything else. Internals are logged, not sent.
func (h *Handler) storeError(w http.ResponseWriter, op string, err error) {
	if errors.Is(err, state.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		h.log.Warn("state store unavailable", "op", op, "error", err)
		h.unavailable(w, "Service Unavailable: session store unreachable, retry shortly")
		return
	}
	h.log.Error("state store error", "op", op, "error", err)
	http.Error(w, "Internal Server Error", http.StatusInternalServerError)
}

// storeContext bounds one store operation on the request path, so that an
// unreachable store yields a timely 503 instead of a hang.
func (h *Handler) storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

// acceptsJSONAndSSE reports whether the Accept values admit JSON and SSE.
func acceptsJSONAndSSE(values []string) (jsonOK, sseOK bool) {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			switch strings.ToLower(strings.TrimSpace(mt)) {
			case "application/json", "application/*":
				jsonOK = true
			case "text/event-stream", "text/*":
				sseOK = true
			case "*/*":
				jsonOK, sseOK = true, true
			}
		}
	}
	return jsonOK, sseOK
}

func isJSONContentType(v string) bool {
	mt, _, _ := strings.Cut(v, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

// isSessionless reports whether a POST without session belongs to the
// 2026-07-28 era: server/discover, or a request whose _meta names a
// protocol version of that era.
func isSessionless(msgs []jsonrpc.Message) bool {
	for _, m := range msgs {
		req, ok := m.(*jsonrpc.Request)
		if !ok {
			continue
		}
		if req.Method == "server/discover" {
			return true
		}
		var p struct {
			Meta map[string]any `json:"_meta"`
		}
		if len(req.Params) > 0 && json.Unmarshal(req.Params, &p) == nil {
			if v, _ := p.Meta[metaProtocolVersion].(string); v >= version20260728 {
				return true
			}
		}
	}
	return false
}

// Shutdown drains the handler for a graceful stop (Cloud Run's SIGTERM, say):
// GET streams end at once with an SSE retry hint, so clients reconnect to
// another instance; requests in progress, tool calls included, run on and
// Shutdown waits for them until ctx is done. Then the streams of calls still
// running end with a retry hint too; with a shared store (Redis) their events
// are kept, so the client resumes on another instance with Last-Event-ID.
// Call it when the server stops accepting connections, with the grace
// period as ctx's deadline.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	select {
	case <-h.draining:
	default:
		close(h.draining)
	}
	done := h.idleLocked()
	h.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		h.mu.Lock()
		select {
		case <-h.abandon:
		default:
			close(h.abandon)
		}
		h.mu.Unlock()
		return fmt.Errorf("handler: shutdown: requests still running: %w", ctx.Err())
	}
}

// Settle waits until the work that outlived its HTTP request is done (a
// call whose stream ended early, with its response going to the store) or
// ctx ends. Platforms that freeze the process once the response is sent
// (AWS Lambda) call it before the invocation ends, with the time left.
func (h *Handler) Settle(ctx context.Context) error {
	h.mu.Lock()
	done := h.idleLocked()
	h.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("handler: settle: requests still running: %w", ctx.Err())
	}
}

// idleLocked returns a channel closed when no background work runs. mu
// must be held.
func (h *Handler) idleLocked() <-chan struct{} {
	if h.bgRunning == 0 {
		done := make(chan struct{})
		close(done)
		return done
	}
	if h.bgIdle == nil {
		h.bgIdle = make(chan struct{})
	}
	return h.bgIdle
}

// bgStart counts background work that Shutdown waits for; bgEnd ends it.
func (h *Handler) bgStart() {
	h.mu.Lock()
	h.bgRunning++
	h.mu.Unlock()
}

func (h *Handler) bgEnd() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bgRunning--
	if h.bgRunning == 0 && h.bgIdle != nil {
		close(h.bgIdle)
		h.bgIdle = nil
	}
}

// Close stops cross-instance subscriptions and, if the handler created its
// own in-memory store, closes it. Call it after the HTTP server stopped.
func (h *Handler) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	stops := h.stopSubs
	h.stopSubs = nil
	h.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	if h.ownsStore {
		return h.store.Close()
	}
	return nil
}

// Ready reports whether the state store answers, for readiness probes. The
// error names no address or credential: it may be shown to callers; the
// cause is logged.
func (h *Handler) Ready(ctx context.Context) error {
	if err := h.store.Ping(ctx); err != nil {
		h.log.Warn("state store not ready", "error", err)
		return errors.New("state store unreachable")
	}
	return nil
}
