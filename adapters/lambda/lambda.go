// Package lambda runs an [http.Handler] as an AWS Lambda function behind a
// [function URL], the way [lambdaurl] does, with what an MCP server needs on
// top:
//
//   - RESPONSE_STREAM (the default): the response streams as it is written,
//     so SSE events reach the client at once. The ResponseWriter can flush
//     (every write is handed to Lambda immediately), so handlers that need
//     [http.Flusher] stream instead of failing.
//   - BUFFERED (function URLs in that invoke mode, and API Gateway HTTP APIs,
//     whose payload format 2.0 is the same): the response leaves when the
//     handler returns. The ResponseWriter cannot flush, which tells
//     handler.Handler to answer with JSON instead of SSE and to turn GET
//     streams into long polls, so nothing waits on a stream that cannot
//     stream.
//   - The request's context carries the invocation's deadline, so work and
//     streams end before Lambda stops the function (handler.Handler ends SSE
//     streams with a retry hint DeadlineMargin before it).
//   - AfterInvoke runs once the response was handed to Lambda and before the
//     function is frozen: settle background work, flush telemetry.
//   - Request cookies (sent apart from the headers in the event) become the
//     Cookie header, and the invocation's X-Ray trace header becomes
//     X-Amzn-Trace-Id when the request has none.
//
// Build the function for the provided.al2023 runtime with -tags lambda.norpc
// and name the binary bootstrap.
//
// [function URL]: https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html
// [lambdaurl]: https://pkg.go.dev/github.com/aws/aws-lambda-go/lambdaurl
package lambda

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdaurl"
)

// InvokeMode is a function URL's invoke mode.
type InvokeMode string

// The invoke modes of a function URL.
const (
	ResponseStream InvokeMode = "RESPONSE_STREAM"
	Buffered       InvokeMode = "BUFFERED"
)

// afterInvokeMargin is the time left to the runtime, after AfterInvoke, to
// end the invocation before its deadline.
const afterInvokeMargin = 50 * time.Millisecond

// Options configures [Start], [Streaming] and [Buffering].
type Options struct {
	// InvokeMode must match the function URL's InvokeMode. Default
	// ResponseStream.
	InvokeMode InvokeMode

	// AfterInvoke, if set, runs after each invocation's response was handed
	// to Lambda (streamed to the end, or returned) and before the
	// invocation ends, when Lambda may freeze the process: settle work that
	// outlived the request (handler.Handler.Settle), flush telemetry. ctx
	// ends shortly before the invocation's deadline.
	AfterInvoke func(ctx context.Context)

	// Logger receives panics of the handler. Default: slog.Default().
	Logger *slog.Logger
}

// Start runs h as the function's handler; it does not return. It must run
// under the Lambda runtime (AWS_LAMBDA_RUNTIME_API set).
func Start(h http.Handler, opts Options) {
	if opts.InvokeMode == Buffered {
		awslambda.Start(Buffering(h, opts))
		return
	}
	awslambda.Start(Streaming(h, opts))
}

// Mode parses an invoke mode ("RESPONSE_STREAM" or "BUFFERED", any case;
// "" means ResponseStream).
func Mode(s string) (InvokeMode, error) {
	switch m := InvokeMode(strings.ToUpper(strings.TrimSpace(s))); m {
	case "":
		return ResponseStream, nil
	case ResponseStream, Buffered:
		return m, nil
	default:
		return "", fmt.Errorf("lambda: invoke mode %q: want %s or %s", s, ResponseStream, Buffered)
	}
}

// Streaming returns a Lambda handler for a function URL in RESPONSE_STREAM
// mode.
func Streaming(h http.Handler, opts Options) func(context.Context, *events.LambdaFunctionURLRequest) (*events.LambdaFunctionURLStreamingResponse, error) {
	log := opts.logger()
	wrapped := lambdaurl.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serve(h, &flushWriter{ResponseWriter: w}, r, log)
	}))
	return func(ctx context.Context, req *events.LambdaFunctionURLRequest) (*events.LambdaFunctionURLStreamingResponse, error) {
		prepare(ctx, req)
		resp, err := wrapped(ctx, req)
		if err != nil {
			// An event that is not an HTTP request (a test invoke, say).
			opts.after(ctx)
			return nil, err
		}
		if rc, ok := resp.Body.(io.ReadCloser); ok && opts.AfterInvoke != nil {
			// The runtime closes the response after streaming it to the
			// end and before it asks for the next invocation.
			resp.Body = &afterClose{ReadCloser: rc, after: func() { opts.after(ctx) }}
		}
		return resp, nil
	}
}

// Buffering returns a Lambda handler for a function URL in BUFFERED mode
// or an API Gateway HTTP API (payload format 2.0).
func Buffering(h http.Handler, opts Options) func(context.Context, *events.LambdaFunctionURLRequest) (*events.LambdaFunctionURLResponse, error) {
	log := opts.logger()
	return func(ctx context.Context, req *events.LambdaFunctionURLRequest) (*events.LambdaFunctionURLResponse, error) {
		defer opts.after(ctx)
		prepare(ctx, req)
		r, err := newRequest(ctx, req)
		if err != nil {
			return nil, err
		}
		w := &bufferWriter{header: http.Header{}}
		serve(h, w, r, log)
		return w.response(), nil
	}
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// after runs AfterInvoke with a context that ends shortly before the
// invocation's deadline.
func (o *Options) after(ctx context.Context) {
	if o.AfterInvoke == nil {
		return
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if d, ok := ctx.Deadline(); ok {
		actx, cancel = context.WithDeadline(context.WithoutCancel(ctx), d.Add(-afterInvokeMargin))
	}
	defer cancel()
	o.AfterInvoke(actx)
}

// prepare completes the event where a function URL leaves the request
// incomplete: cookies come apart from the headers, and the invocation's
// X-Ray trace header is not among them.
func prepare(ctx context.Context, req *events.LambdaFunctionURLRequest) {
	if req.Headers == nil {
		req.Headers = map[string]string{}
	}
	if len(req.Cookies) > 0 {
		if _, ok := req.Headers["cookie"]; !ok {
			req.Headers["cookie"] = strings.Join(req.Cookies, "; ")
		}
	}
	if _, ok := req.Headers["x-amzn-trace-id"]; !ok {
		//nolint:staticcheck // the key aws-lambda-go stores the trace header under
		if v, _ := ctx.Value("x-amzn-trace-id").(string); v != "" {
			req.Headers["x-amzn-trace-id"] = v
		}
	}
}

// newRequest builds the http.Request of a function URL event, as lambdaurl
// does for the streaming mode.
func newRequest(ctx context.Context, req *events.LambdaFunctionURLRequest) (*http.Request, error) {
	var body io.Reader = strings.NewReader(req.Body)
	if req.IsBase64Encoded {
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	u := "https://" + req.RequestContext.DomainName + req.RawPath
	if req.RawQueryString != "" {
		u += "?" + req.RawQueryString
	}
	r, err := http.NewRequestWithContext(ctx, req.RequestContext.HTTP.Method, u, body)
	if err != nil {
		return nil, fmt.Errorf("lambda: request from the event: %w", err)
	}
	r.RemoteAddr = req.RequestContext.HTTP.SourceIP
	for k, v := range req.Headers {
		r.Header.Add(k, v)
	}
	return r, nil
}

// flushWriter gives lambdaurl's ResponseWriter the Flush that handlers look
// for. Its writes go straight into the pipe Lambda reads the response from,
// so there is nothing to flush but the header.
type flushWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *flushWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *flushWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

func (w *flushWriter) started() bool { return w.wrote }

// FlushError implements the interface http.ResponseController looks for.
func (w *flushWriter) FlushError() error {
	w.WriteHeader(http.StatusOK) // no-op once written
	return nil
}

// Flush implements [http.Flusher].
func (w *flushWriter) Flush() { _ = w.FlushError() }

// Unwrap returns the underlying ResponseWriter.
func (w *flushWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// afterClose runs after when the runtime closes the response body.
type afterClose struct {
	io.ReadCloser
	after func()
}

func (a *afterClose) Close() error {
	err := a.ReadCloser.Close()
	a.after()
	return err
}

// bufferWriter collects a response for the buffered modes. It cannot flush.
type bufferWriter struct {
	header http.Header
	status int
	body   strings.Builder
}

func (w *bufferWriter) Header() http.Header { return w.header }

func (w *bufferWriter) started() bool { return w.status != 0 }

func (w *bufferWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *bufferWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

func (w *bufferWriter) response() *events.LambdaFunctionURLResponse {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	resp := &events.LambdaFunctionURLResponse{StatusCode: w.status, Headers: map[string]string{}}
	for k, v := range w.header {
		if k == "Set-Cookie" {
			resp.Cookies = v
			continue
		}
		resp.Headers[k] = strings.Join(v, ",")
	}
	body := w.body.String()
	if isText(w.header.Get("Content-Type")) && utf8.ValidString(body) {
		resp.Body = body
	} else {
		resp.Body = base64.StdEncoding.EncodeToString([]byte(body))
		resp.IsBase64Encoded = true
	}
	return resp
}

// isText reports whether a content type is text a function URL may carry
// as is.
func isText(ct string) bool {
	if ct == "" {
		return true // http.Error and empty answers
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// serve runs h, turning a panic into a logged error and, when nothing was
// written yet, a 500 answer, instead of the end of the process.
func serve(h http.Handler, w startedWriter, r *http.Request, log *slog.Logger) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if err, ok := v.(error); !ok || !errors.Is(err, http.ErrAbortHandler) {
			log.ErrorContext(r.Context(), "lambda: handler panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
		if !w.started() {
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		}
	}()
	h.ServeHTTP(w, r)
}

// startedWriter is a ResponseWriter that knows whether the response began.
type startedWriter interface {
	http.ResponseWriter
	started() bool
}

// Running reports whether the process runs under the Lambda runtime.
func Running() bool {
	_, ok := os.LookupEnv("AWS_LAMBDA_RUNTIME_API")
	return ok
}
