package telemetry

import (
	"bytes"
	"context"
	"errors"
	"go.opentelemetry.io/otel/propagation"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"
)

// peekLimit bounds how much of a POST body HTTPMiddleware reads ahead to
// find the JSON-RPC method and id.
const peekLimit = 64 << 10

// httpInfo describes the HTTP request that carried an MCP message.
type httpInfo struct {
	span  trace.SpanContext // the otelhttp server span
	proto string            // network.protocol.version: "1.1", "2"
	// The single JSON-RPC message of a POST body, when there is one.
	method string
	id     string
	hasID  bool
	ended  atomic.Bool // ServeHTTP returned: the span is over
}

type httpInfoKey struct{}

// HTTPMiddleware wraps h (the MCP endpoint, or a mux) with otelhttp: one
// SERVER span per HTTP request, child of the W3C traceparent/tracestate
// headers when present, and the http.server.* metrics. For a POST carrying a
// single JSON-RPC message it also reads ahead the first 64 KiB of the body
// (handing it on unchanged) to learn the message's method and id, which
// MCPMiddleware records as jsonrpc.request.id. On Lambda it flushes spans and
// metrics after each request, before the invocation returns.
//
// With OTEL_SDK_DISABLED=true it only extracts the incoming trace context,
// so logs still name the caller's trace, and costs next to nothing.
func (t *Telemetry) HTTPMiddleware(h http.Handler) http.Handler {
	if t.disabled {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Traceparent") == "" {
				h.ServeHTTP(w, r)
				return
			}
			h.ServeHTTP(w, r.WithContext(t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))))
		})
	}
	lambda := t.platform == PlatformLambda
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lambda {
			annotateLambda(r.Context(), trace.SpanFromContext(r.Context()))
		}
		info := &httpInfo{span: trace.SpanContextFromContext(r.Context()), proto: protocolVersion(r)}
		r2 := r.WithContext(context.WithValue(r.Context(), httpInfoKey{}, info))
		if r.Method == http.MethodPost && r.Body != nil && r.Body != http.NoBody && isJSON(r.Header.Get("Content-Type")) {
			info.method, info.id, info.hasID = peekJSONRPC(r2)
		}
		key := headerKey(r.Header)
		t.inflight.add(key, info)
		defer func() {
			info.ended.Store(true)
			t.inflight.remove(key, info)
			r.Pattern = r2.Pattern // for otelhttp's span name (http.route)
		}()
		h.ServeHTTP(w, r2)
	})
	out := otelhttp.NewHandler(inner, "mcp",
		otelhttp.WithTracerProvider(t.tp),
		otelhttp.WithMeterProvider(t.mp),
		otelhttp.WithPropagators(t.prop),
	)
	if t.platform != PlatformLambda {
		return out
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), lambdaFlushTimeout)
			defer cancel()
			if err := t.Flush(ctx); err != nil {
				t.logger.WarnContext(ctx, "telemetry: flush", "err", err)
			}
		}()
		out.ServeHTTP(w, r)
	})
}

// headerKey identifies a request's header map. go-sdk hands that same map to
// the server as mcp.RequestExtra.Header, which is how MCPMiddleware finds
// the request (see Telemetry.inflight).
func headerKey(h http.Header) uintptr {
	if h == nil {
		return 0
	}
	return reflect.ValueOf(h).Pointer()
}

// httpInfoFor returns the HTTP request being served that carried a message
// handled under ctx with the request headers hdr, or nil. The request in ctx
// is used unless it has ended, as it has when go-sdk's stateful streamable
// handler serves a later request under the context of the one that created
// the session; then the request is found by its header map.
func (t *Telemetry) httpInfoFor(ctx context.Context, hdr http.Header) *httpInfo {
	if info, ok := ctx.Value(httpInfoKey{}).(*httpInfo); ok && !info.ended.Load() {
		return info
	}
	if hdr != nil {
		if info := t.inflight.get(headerKey(hdr)); info != nil && !info.ended.Load() {
			return info
		}
	}
	return nil
}

// inflight maps the header map of every HTTP request being served by
// HTTPMiddleware to its httpInfo, so that MCPMiddleware finds the HTTP span
// of the request that carried a message even when go-sdk handles it under
// an older request's context (its stateful streamable handler does). A
// mutex and a map: unlike sync.Map, adding a key allocates nothing once the
// map has grown to the number of concurrent requests.
type inflight struct {
	mu sync.Mutex
	m  map[uintptr]*httpInfo
}

func (f *inflight) add(key uintptr, info *httpInfo) {
	f.mu.Lock()
	if f.m == nil {
		f.m = make(map[uintptr]*httpInfo)
	}
	f.m[key] = info
	f.mu.Unlock()
}

// remove deletes key if it still maps to info.
func (f *inflight) remove(key uintptr, info *httpInfo) {
	f.mu.Lock()
	if f.m[key] == info {
		delete(f.m, key)
	}
	f.mu.Unlock()
}

func (f *inflight) get(key uintptr) *httpInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[key]
}

// staleHTTP reports whether ctx belongs to an HTTP request that has ended.
func staleHTTP(ctx context.Context) bool {
	info, ok := ctx.Value(httpInfoKey{}).(*httpInfo)
	return ok && info.ended.Load()
}

func protocolVersion(r *http.Request) string {
	switch {
	case r.ProtoMajor == 1:
		return "1." + strconv.Itoa(r.ProtoMinor)
	case r.ProtoMajor >= 2:
		return strconv.Itoa(r.ProtoMajor)
	}
	return ""
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// peekJSONRPC reads up to peekLimit bytes of r's body, puts them back in
// front of the rest, and returns the method and id of the JSON-RPC message
// when the body is a single message whose method and id appear in those
// bytes (batches and other bodies return nothing).
func peekJSONRPC(r *http.Request) (method, id string, hasID bool) {
	body := r.Body
	var (
		buf []byte
		err error
	)
	if n := r.ContentLength; n > 0 && n <= peekLimit {
		buf = make([]byte, n)
		var got int
		got, err = io.ReadFull(body, buf)
		buf = buf[:got]
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = nil // a short body: the handler reads what there is
		}
	} else {
		buf, err = io.ReadAll(io.LimitReader(body, peekLimit))
	}
	var rest io.Reader = body
	if err != nil {
		rest = errReader{err}
	}
	r.Body = readCloser{Reader: io.MultiReader(bytes.NewReader(buf), rest), Closer: body}
	return scanJSONRPC(buf)
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
