package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys of the MCP semantic conventions (semconv v1.41.0, the last
// Go semconv release with the mcp namespace; later ones moved it to the
// GenAI conventions).
const (
	keyMethodName      = semconv.McpMethodNameKey
	keySessionID       = semconv.McpSessionIDKey
	keyProtocolVersion = semconv.McpProtocolVersionKey
	keyResourceURI     = semconv.McpResourceURIKey
	keyToolName        = semconv.GenAIToolNameKey
	keyPromptName      = semconv.GenAIPromptNameKey
	keyToolArguments   = semconv.GenAIToolCallArgumentsKey
	keyRequestID       = semconv.JSONRPCRequestIDKey
	keyRPCStatusCode   = semconv.RPCResponseStatusCodeKey
)

// maxArgumentsLen caps gen_ai.tool.call.arguments (RecordArguments).
const maxArgumentsLen = 8 << 10

// MCPMiddleware returns the receiving middleware that traces and measures
// every MCP request and notification a server handles:
//
//	server.AddReceivingMiddleware(tel.MCPMiddleware())
//
// Add it last (outermost) so that the span covers the other middleware.
//
// One SERVER span per message, named "{mcp.method.name} {target}" where
// target is the tool or prompt name ("tools/call get_weather"), else
// "{mcp.method.name}". Attributes: mcp.method.name, mcp.session.id (when the
// session has an ID), mcp.protocol.version, gen_ai.tool.name and
// gen_ai.operation.name=execute_tool, gen_ai.prompt.name, mcp.resource.uri,
// jsonrpc.request.id (when HTTPMiddleware saw the message), network.transport,
// network.protocol.name and network.protocol.version (over HTTP), error.type
// and rpc.response.status_code. The parent is the W3C trace context in
// params._meta (traceparent, tracestate, baggage) when present, with a link
// to the HTTP request's span; else the HTTP request's span; else a
// traceparent header of the HTTP request; else the span in ctx.
//
// A JSON-RPC error sets error.type and rpc.response.status_code to its code
// and the span status to Error with its message; other Go errors set
// error.type=_OTHER. A CallToolResult with isError sets
// error.type=tool_error and status Error. When a tools/call or prompts/get
// fails with a protocol error (an unknown tool, say) the name is kept off
// the span name and the metric, whose cardinality clients must not control.
//
// Each message is recorded in mcp.server.operation.duration. Handlers find
// the span with trace.SpanFromContext(ctx), and logs written with that
// context carry its IDs and the MCP method, session and tool.
func (t *Telemetry) MCPMiddleware() mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			return t.serveMCP(ctx, method, req, next)
		}
	}
}

// mcpMessage is what the middleware reads from a request.
type mcpMessage struct {
	sessionID       string
	protocolVersion string
	tool            string
	prompt          string
	uri             string
	meta            map[string]any
	args            json.RawMessage
	header          http.Header
}

func describe(req mcp.Request) mcpMessage {
	var m mcpMessage
	if req == nil {
		return m
	}
	if s := req.GetSession(); !isNil(s) {
		m.sessionID = s.ID()
	}
	if pv, ok := req.(interface{ ProtocolVersion() string }); ok {
		m.protocolVersion = pv.ProtocolVersion()
	}
	if ex := req.GetExtra(); ex != nil {
		m.header = ex.Header
	}
	p := req.GetParams()
	if isNil(p) {
		return m
	}
	m.meta = p.GetMeta()
	switch x := p.(type) {
	case *mcp.CallToolParamsRaw:
		m.tool, m.args = x.Name, x.Arguments
	case *mcp.CallToolParams:
		m.tool = x.Name
		if x.Arguments != nil {
			m.args, _ = json.Marshal(x.Arguments)
		}
	case *mcp.GetPromptParams:
		m.prompt = x.Name
	case *mcp.ReadResourceParams:
		m.uri = x.URI
	case *mcp.SubscribeParams:
		m.uri = x.URI
	case *mcp.UnsubscribeParams:
		m.uri = x.URI
	case *mcp.ResourceUpdatedNotificationParams:
		m.uri = x.URI
	case *mcp.InitializeParams:
		if m.protocolVersion == "" {
			m.protocolVersion = x.ProtocolVersion
		}
	}
	return m
}

func (t *Telemetry) serveMCP(ctx context.Context, method string, req mcp.Request, next mcp.MethodHandler) (mcp.Result, error) {
	start := time.Now()
	m := describe(req)
	hi := t.httpInfoFor(ctx, m.header)
	parent, links := t.parent(ctx, &m, hi)

	name, target := method, m.tool
	if target == "" {
		target = m.prompt
	}
	if target != "" {
		name += " " + target
	}
	// Span and metric attributes, all known up front but for the outcome
	// (and the protocol version an initialize negotiates), so that the span
	// gets them in one go. The metric's list starts with the method and
	// leaves room for what the outcome adds.
	attrs := make([]attribute.KeyValue, 0, 12)
	metricAttrs := make([]attribute.KeyValue, 0, 10)
	attrs = append(attrs, keyMethodName.String(method))
	metricAttrs = append(metricAttrs, keyMethodName.String(method))
	if m.sessionID != "" {
		attrs = append(attrs, keySessionID.String(m.sessionID))
	}
	if m.protocolVersion != "" {
		attrs = append(attrs, keyProtocolVersion.String(m.protocolVersion))
	}
	if m.tool != "" {
		attrs = append(attrs, keyToolName.String(m.tool), semconv.GenAIOperationNameExecuteTool)
		metricAttrs = append(metricAttrs, semconv.GenAIOperationNameExecuteTool)
	}
	if m.prompt != "" {
		attrs = append(attrs, keyPromptName.String(m.prompt))
	}
	if m.uri != "" {
		attrs = append(attrs, keyResourceURI.String(m.uri))
	}
	if hi != nil {
		attrs = append(attrs, semconv.NetworkTransportTCP, semconv.NetworkProtocolName("http"))
		metricAttrs = append(metricAttrs, semconv.NetworkTransportTCP, semconv.NetworkProtocolName("http"))
		if hi.proto != "" {
			attrs = append(attrs, semconv.NetworkProtocolVersion(hi.proto))
			metricAttrs = append(metricAttrs, semconv.NetworkProtocolVersion(hi.proto))
		}
		if hi.hasID && hi.method == method {
			attrs = append(attrs, keyRequestID.String(hi.id))
		}
	}
	if t.opts.RecordArguments && len(m.args) > 0 {
		args := t.redactor.scrub(string(t.redactor.json(m.args)))
		if len(args) > maxArgumentsLen {
			args = args[:maxArgumentsLen]
		}
		attrs = append(attrs, keyToolArguments.String(args))
	}

	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...)}
	if len(links) > 0 {
		opts = append(opts, trace.WithLinks(links...))
	}
	ctx, span := t.tracer.Start(parent, name, opts...)
	ctx = context.WithValue(ctx, mcpLogInfoKey{}, &mcpLogInfo{method: method, sessionID: m.sessionID, tool: m.tool})

	res, err := next(ctx, method, req)

	d := time.Since(start)
	var late []attribute.KeyValue // span attributes the outcome adds; none on success
	pv := m.protocolVersion
	if ir, ok := res.(*mcp.InitializeResult); ok && ir != nil && ir.ProtocolVersion != "" && ir.ProtocolVersion != pv {
		pv = ir.ProtocolVersion
		late = append(late, keyProtocolVersion.String(pv))
	}
	if pv != "" {
		metricAttrs = append(metricAttrs, keyProtocolVersion.String(pv))
	}
	var errType string
	switch {
	case err != nil:
		var werr *jsonrpc.Error
		if errors.As(err, &werr) {
			code := strconv.FormatInt(werr.Code, 10)
			errType = code
			late = append(late, keyRPCStatusCode.String(code))
			metricAttrs = append(metricAttrs, keyRPCStatusCode.String(code))
		} else {
			errType = errorTypeOther
		}
		span.SetStatus(codes.Error, t.redactor.scrub(err.Error()))
		if target != "" {
			span.SetName(method)
			target = ""
		}
	case isToolError(res):
		errType = errorTypeToolError
		span.SetStatus(codes.Error, errorTypeToolError)
	}
	if errType != "" {
		late = append(late, attrErrorType.String(errType))
		metricAttrs = append(metricAttrs, attrErrorType.String(errType))
	}
	if len(late) > 0 {
		span.SetAttributes(late...)
	}
	switch {
	case target == "":
	case m.tool != "":
		metricAttrs = append(metricAttrs, keyToolName.String(m.tool))
	case m.prompt != "":
		metricAttrs = append(metricAttrs, keyPromptName.String(m.prompt))
	}
	span.End()

	t.metrics.operation.RecordSet(ctx, d.Seconds(), attribute.NewSet(metricAttrs...))
	if t.logger.Enabled(ctx, slog.LevelDebug) {
		t.logger.DebugContext(ctx, "mcp message handled", "duration", d, "error.type", errType)
	}
	return res, err
}

// parent returns the context to start the server span in, and its links.
func (t *Telemetry) parent(ctx context.Context, m *mcpMessage, hi *httpInfo) (context.Context, []trace.Link) {
	// The transport's span: the HTTP request that carried the message, or
	// the span in ctx unless it belongs to an HTTP request that has ended.
	var ambient trace.SpanContext
	switch {
	case hi != nil:
		ambient = hi.span
	case !staleHTTP(ctx):
		ambient = trace.SpanContextFromContext(ctx)
	}
	if len(m.meta) > 0 {
		remote := t.prop.Extract(context.Background(), metaCarrier(m.meta))
		if sc := trace.SpanContextFromContext(remote); sc.IsValid() {
			var links []trace.Link
			if ambient.IsValid() {
				links = []trace.Link{{SpanContext: ambient}}
			}
			ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
			if b := baggage.FromContext(remote); b.Len() > 0 {
				ctx = baggage.ContextWithBaggage(ctx, b)
			}
			return ctx, links
		}
	}
	if ambient.IsValid() {
		return trace.ContextWithSpanContext(ctx, ambient), nil
	}
	if m.header != nil {
		remote := t.prop.Extract(context.Background(), propagation.HeaderCarrier(m.header))
		if sc := trace.SpanContextFromContext(remote); sc.IsValid() {
			return trace.ContextWithRemoteSpanContext(ctx, sc), nil
		}
	}
	// A new trace: drop a span that ended with its HTTP request.
	return trace.ContextWithSpanContext(ctx, trace.SpanContext{}), nil
}

// metaCarrier reads and writes W3C trace context in an MCP params._meta
// map, whose keys traceparent, tracestate and baggage are unprefixed
// (SEP-414).
type metaCarrier map[string]any

func (c metaCarrier) Get(key string) string {
	s, _ := c[key].(string)
	return s
}

func (c metaCarrier) Set(key, value string) { c[key] = value }

func (c metaCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// InjectMeta writes the trace context of ctx (traceparent, tracestate,
// baggage) into an MCP params._meta map, creating it when nil, as MCP clients
// should when sending a request. It returns the map.
func (t *Telemetry) InjectMeta(ctx context.Context, meta map[string]any) map[string]any {
	if meta == nil {
		meta = map[string]any{}
	}
	t.prop.Inject(ctx, metaCarrier(meta))
	return meta
}

func isToolError(res mcp.Result) bool {
	r, ok := res.(*mcp.CallToolResult)
	return ok && r != nil && r.IsError
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Func, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

// TrackSession records mcp.server.session.duration when ss ends, measured
// from now. Use it for sessions this process owns for their whole life
// (stdio, go-sdk's stateful streamable handler, in-memory transports), e.g.
// from mcp.ServerOptions.InitializedHandler:
//
//	InitializedHandler: func(_ context.Context, req *mcp.InitializedRequest) { tel.TrackSession(req.Session) },
//
// The fleet handler, whose go-sdk sessions last one HTTP request, calls
// [Metrics.SessionEnded] instead.
func (t *Telemetry) TrackSession(ss *mcp.ServerSession) {
	if ss == nil {
		return
	}
	start := time.Now()
	go func() {
		err := ss.Wait()
		var pv string
		if p := ss.InitializeParams(); p != nil {
			pv = p.ProtocolVersion
		}
		var errType string
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, mcp.ErrConnectionClosed) {
			errType = errorType(err)
		}
		t.metrics.SessionEnded(context.Background(), time.Since(start), pv, errType)
	}()
}
