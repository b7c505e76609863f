package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"go.opentelemetry.io/otel/trace"
)

// logFormat is the resolved output format.
type logFormat int

const (
	formatText     logFormat = iota // slog.TextHandler
	formatJSON                      // slog-style JSON: time, level, msg
	formatCloudRun                  // Cloud Logging structured logging
	formatLambda                    // Lambda JSON: timestamp, level, message, requestId
)

// logConfig is what the handler needs from Telemetry.
type logConfig struct {
	format   logFormat
	level    slog.Leveler
	w        io.Writer
	project  string
	redactor *redactor
}

func (t *Telemetry) logConfig() logConfig {
	w := t.opts.LogWriter
	if w == nil {
		w = os.Stderr
		if t.platform != PlatformLocal {
			w = os.Stdout
		}
	}
	return logConfig{
		format:   resolveFormat(strings.ToLower(t.opts.LogFormat), t.platform, isTerminal(w)),
		level:    t.opts.LogLevel,
		w:        w,
		project:  t.projectID,
		redactor: t.redactor,
	}
}

func resolveFormat(format, platform string, terminal bool) logFormat {
	if format == LogFormatText || (format != LogFormatJSON && platform == PlatformLocal && terminal) {
		return formatText
	}
	switch platform {
	case PlatformCloudRun:
		return formatCloudRun
	case PlatformLambda:
		return formatLambda
	}
	return formatJSON
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// logCore is shared by a handler and every handler derived from it.
type logCore struct {
	logConfig
	mu   sync.Mutex   // serializes writes of the JSON formats
	text slog.Handler // formatText only
	bufs sync.Pool    // *[]byte
}

// logHandler is the slog.Handler behind Telemetry.Logger. It keeps the
// groups and attributes added with WithGroup/WithAttrs itself, so that the
// fields a platform reads (severity, trace, labels, …) stay at the top
// level whatever groups the caller opened, and redacts every attribute.
type logHandler struct {
	core *logCore
	goas []groupOrAttrs
}

type groupOrAttrs struct {
	group string      // WithGroup
	attrs []slog.Attr // WithAttrs, already redacted
}

func newLogHandler(cfg logConfig) *logHandler {
	c := &logCore{logConfig: cfg}
	if cfg.format == formatText {
		// The level is checked by logHandler.Enabled.
		c.text = slog.NewTextHandler(cfg.w, &slog.HandlerOptions{Level: slog.Level(-1 << 20)})
	}
	return &logHandler{core: c}
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.core.level.Level()
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	return h.with(groupOrAttrs{attrs: h.core.redactor.attrs(as)})
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(groupOrAttrs{group: name})
}

func (h *logHandler) with(g groupOrAttrs) *logHandler {
	goas := make([]groupOrAttrs, len(h.goas), len(h.goas)+1)
	copy(goas, h.goas)
	return &logHandler{core: h.core, goas: append(goas, g)}
}

// entry is one record with everything a format may write.
type entry struct {
	time        time.Time
	level       slog.Level
	message     string
	pc          uintptr
	span        trace.SpanContext
	mcp         *mcpLogInfo
	requestID   string // Lambda
	xrayTraceID string // Lambda: Root of the invocation's X-Ray trace header
	attrs       []slog.Attr
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	c := h.core
	attrs := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a)
		return true
	})
	attrs = c.redactor.attrs(attrs)
	for i := len(h.goas) - 1; i >= 0; i-- {
		g := h.goas[i]
		if g.group == "" {
			attrs = append(append(make([]slog.Attr, 0, len(g.attrs)+len(attrs)), g.attrs...), attrs...)
			continue
		}
		if len(attrs) > 0 {
			attrs = []slog.Attr{{Key: g.group, Value: slog.GroupValue(attrs...)}}
		}
	}
	e := entry{
		time:    r.Time,
		level:   r.Level,
		message: c.redactor.scrub(r.Message),
		pc:      r.PC,
		attrs:   attrs,
	}
	if ctx != nil {
		e.span = trace.SpanContextFromContext(ctx)
		e.mcp, _ = ctx.Value(mcpLogInfoKey{}).(*mcpLogInfo)
		if lc, ok := lambdacontext.FromContext(ctx); ok && lc != nil {
			e.requestID = lc.AwsRequestID
			e.xrayTraceID = xrayRoot(xrayHeader(ctx))
		}
	}
	if c.format == formatText {
		return c.handleText(ctx, &e)
	}
	buf := c.getBuf()
	defer c.putBuf(buf)
	switch c.format {
	case formatCloudRun:
		*buf = c.appendCloudRun(*buf, &e)
	case formatLambda:
		*buf = c.appendLambda(*buf, &e)
	default:
		*buf = c.appendJSON(*buf, &e)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.w.Write(*buf)
	return err
}

func (c *logCore) handleText(ctx context.Context, e *entry) error {
	r := slog.NewRecord(e.time, e.level, e.message, e.pc)
	if e.requestID != "" {
		r.AddAttrs(slog.String("requestId", e.requestID))
	}
	if e.span.IsValid() {
		r.AddAttrs(slog.String("trace_id", e.span.TraceID().String()), slog.String("span_id", e.span.SpanID().String()))
	}
	if e.mcp != nil {
		r.AddAttrs(e.mcp.attrs()...)
	}
	r.AddAttrs(e.attrs...)
	return c.text.Handle(ctx, r)
}

// mcpLogInfo is what MCPMiddleware puts in the context of a request for the
// logs written while serving it.
type mcpLogInfo struct {
	method    string
	sessionID string
	tool      string
}

type mcpLogInfoKey struct{}

func (m *mcpLogInfo) attrs() []slog.Attr {
	out := []slog.Attr{slog.String(string(keyMethodName), m.method)}
	if m.sessionID != "" {
		out = append(out, slog.String(string(keySessionID), m.sessionID))
	}
	if m.tool != "" {
		out = append(out, slog.String(string(keyToolName), m.tool))
	}
	return out
}

// HTTPRequest returns an attribute describing a served HTTP request. On Cloud
// Run, logged at the top level it becomes the entry's httpRequest field
// (Cloud Logging's HttpRequest: method, URL without query, status, sizes,
// latency, user agent, remote IP, protocol); other formats write the same
// object under the key "httpRequest". status, latency and responseSize may
// be zero when unknown.
func HTTPRequest(r *http.Request, status int, latency time.Duration, responseSize int64) slog.Attr {
	l := &httpRequestLog{
		RequestMethod: r.Method,
		UserAgent:     r.UserAgent(),
		RemoteIP:      remoteIP(r),
		Referer:       r.Referer(),
		Protocol:      r.Proto,
		Status:        status,
	}
	if r.URL != nil {
		u := *r.URL
		u.RawQuery, u.ForceQuery, u.User, u.Fragment = "", false, nil, ""
		if u.Host == "" {
			u.Host = r.Host
		}
		if u.Scheme == "" {
			u.Scheme = "http"
			if r.TLS != nil {
				u.Scheme = "https"
			}
		}
		l.RequestURL = u.String()
	}
	if r.ContentLength > 0 {
		l.RequestSize = strconv.FormatInt(r.ContentLength, 10)
	}
	if responseSize > 0 {
		l.ResponseSize = strconv.FormatInt(responseSize, 10)
	}
	if latency > 0 {
		l.Latency = strconv.FormatFloat(latency.Seconds(), 'f', -1, 64) + "s"
	}
	return slog.Any("httpRequest", l)
}

// httpRequestLog is Cloud Logging's HttpRequest in its JSON form.
type httpRequestLog struct {
	RequestMethod string `json:"requestMethod,omitempty"`
	RequestURL    string `json:"requestUrl,omitempty"`
	RequestSize   string `json:"requestSize,omitempty"`
	Status        int    `json:"status,omitempty"`
	ResponseSize  string `json:"responseSize,omitempty"`
	UserAgent     string `json:"userAgent,omitempty"`
	RemoteIP      string `json:"remoteIp,omitempty"`
	Referer       string `json:"referer,omitempty"`
	Latency       string `json:"latency,omitempty"`
	Protocol      string `json:"protocol,omitempty"`
}

func (l *httpRequestLog) scrubbed(r *redactor) *httpRequestLog {
	c := *l
	c.RequestURL = r.scrub(c.RequestURL)
	c.UserAgent = r.scrub(c.UserAgent)
	c.Referer = r.scrub(c.Referer)
	return &c
}

func remoteIP(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		first, _, _ := strings.Cut(xff, ",")
		return strings.TrimSpace(first)
	}
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

// source returns the file, line and function of pc.
func source(pc uintptr) (file string, line int, function string) {
	if pc == 0 {
		return "", 0, ""
	}
	f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	return f.File, f.Line, f.Function
}

func (c *logCore) getBuf() *[]byte {
	if b, ok := c.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 1024)
	return &b
}

func (c *logCore) putBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return
	}
	*b = (*b)[:0]
	c.bufs.Put(b)
}
