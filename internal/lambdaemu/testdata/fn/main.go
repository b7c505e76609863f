// Command fn is the test function of package lambdaemu: a Lambda bootstrap
// built with aws-lambda-go whose behaviour is chosen by the request path.
//
// FN_MODE=buffered serves BUFFERED responses (events.LambdaFunctionURLResponse
// and friends); anything else serves RESPONSE_STREAM responses through
// lambdaurl. FN_SIGTERM=1 enables SIGTERM through the Extensions API and
// prints "fn: SIGTERM" when it arrives. FN_EXIT_AT_INIT=N exits with status N
// before the runtime loop starts. FN_INIT_ERROR=1 reports an init error
// (POST /runtime/init/error) and then hangs.
//
// Paths, both modes:
//
//	/sleep?ms=N  sleep N ms, then answer like /echo
//	/slow        sleep 10 s (past any test deadline), then answer
//	/error       return an error (POST /error)
//	/crash       exit with status 3
//	anything else: /echo, a JSON description of the invocation
//
// Streaming mode only:
//
//	/sse         three SSE events 200 ms apart, with a Set-Cookie
//	/forever     an SSE event every 100 ms for 10 s, ignoring the deadline
//	/polite      SSE events every 100 ms until 300 ms before the deadline
//	/streamerr   a body chunk, then a read error (error trailer)
//
// Buffered mode only:
//
//	/bin         201, base64 binary body, cookies and headers
//	/raw         a JSON object without statusCode
//	/big         a 7 MB body
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-lambda-go/lambdaurl"
)

// Echo is what /echo returns.
type Echo struct {
	Event       json.RawMessage   `json:"event"`       // the event as received
	Method      string            `json:"method"`      // as the handler sees it
	Path        string            `json:"path"`        // as the handler sees it
	Query       string            `json:"query"`       // as the handler sees it
	Header      map[string]string `json:"header"`      // as the handler sees it (streaming)
	Body        []byte            `json:"body"`        // decoded body
	RequestID   string            `json:"requestId"`   // lambdacontext
	FunctionARN string            `json:"functionArn"` // lambdacontext
	DeadlineMs  int64             `json:"deadlineMs"`  // ctx deadline
	TraceID     string            `json:"traceId"`     // _X_AMZN_TRACE_ID
	Env         map[string]string `json:"env"`
	PID         int               `json:"pid"`
}

var envKeys = []string{
	"AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
	"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION", "AWS_DEFAULT_REGION",
	"AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_LOG_GROUP_NAME", "_HANDLER",
	"LAMBDA_TASK_ROOT", "AWS_LAMBDA_INITIALIZATION_TYPE", "FN_EXTRA", "TZ",
}

func echo(ctx context.Context, raw json.RawMessage, method, path, query string, header http.Header, body []byte) Echo {
	e := Echo{Event: raw, Method: method, Path: path, Query: query, Body: body, Env: map[string]string{}, PID: os.Getpid()}
	if header != nil {
		e.Header = map[string]string{}
		for k, v := range header {
			e.Header[k] = strings.Join(v, ",")
		}
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		e.RequestID = lc.AwsRequestID
		e.FunctionARN = lc.InvokedFunctionArn
	}
	if d, ok := ctx.Deadline(); ok {
		e.DeadlineMs = d.UnixMilli()
	}
	e.TraceID = os.Getenv("_X_AMZN_TRACE_ID")
	for _, k := range envKeys {
		if v, ok := os.LookupEnv(k); ok {
			e.Env[k] = v
		}
	}
	return e
}

func sleepMs(q string) {
	ms, _ := strconv.Atoi(q)
	time.Sleep(time.Duration(ms) * time.Millisecond)
}

// rawKey carries the raw event to the lambdaurl handler.
type rawKey struct{}

func streamingMux() http.Handler {
	mux := http.NewServeMux()
	sse := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
	}
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		sse(w)
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "1", Path: "/"})
		for i := range 3 {
			if i > 0 {
				time.Sleep(200 * time.Millisecond)
			}
			fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
		}
	})
	mux.HandleFunc("/forever", func(w http.ResponseWriter, r *http.Request) {
		sse(w)
		for i := range 100 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			time.Sleep(100 * time.Millisecond)
		}
	})
	mux.HandleFunc("/polite", func(w http.ResponseWriter, r *http.Request) {
		sse(w)
		deadline, _ := r.Context().Deadline()
		for i := 0; time.Until(deadline) > 300*time.Millisecond; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			time.Sleep(100 * time.Millisecond)
		}
		fmt.Fprint(w, "data: bye\n\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sleep" {
			sleepMs(r.URL.Query().Get("ms"))
		}
		if r.URL.Path == "/slow" {
			time.Sleep(10 * time.Second)
		}
		body, _ := io.ReadAll(r.Body)
		raw, _ := r.Context().Value(rawKey{}).(json.RawMessage)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echo(r.Context(), raw, r.Method, r.URL.Path, r.URL.RawQuery, r.Header, body))
	})
	return mux
}

// failingReader yields one chunk, then fails.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	f.n++
	if f.n == 1 {
		return copy(p, "partial "), nil
	}
	time.Sleep(100 * time.Millisecond)
	return 0, errors.New("stream exploded")
}

func streaming(h func(context.Context, *events.LambdaFunctionURLRequest) (*events.LambdaFunctionURLStreamingResponse, error)) func(context.Context, json.RawMessage) (*events.LambdaFunctionURLStreamingResponse, error) {
	return func(ctx context.Context, raw json.RawMessage) (*events.LambdaFunctionURLStreamingResponse, error) {
		var req events.LambdaFunctionURLRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			return nil, err
		}
		switch req.RawPath {
		case "/crash":
			os.Exit(3)
		case "/error":
			return nil, errors.New("boom")
		case "/streamerr":
			return &events.LambdaFunctionURLStreamingResponse{
				StatusCode: 200,
				Headers:    map[string]string{"Content-Type": "text/plain"},
				Body:       &failingReader{},
			}, nil
		}
		return h(context.WithValue(ctx, rawKey{}, raw), &req)
	}
}

func buffered(ctx context.Context, raw json.RawMessage) (any, error) {
	var req events.LambdaFunctionURLRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, err
	}
	switch req.RawPath {
	case "/crash":
		os.Exit(3)
	case "/error":
		return nil, errors.New("boom")
	case "/slow":
		time.Sleep(10 * time.Second)
	case "/sleep":
		sleepMs(req.QueryStringParameters["ms"])
	case "/bin":
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		return events.LambdaFunctionURLResponse{
			StatusCode:      201,
			Headers:         map[string]string{"Content-Type": "application/octet-stream", "X-Test": "yes"},
			Body:            base64.StdEncoding.EncodeToString(b),
			IsBase64Encoded: true,
			Cookies:         []string{"a=1; Path=/", "b=2"},
		}, nil
	case "/raw":
		return map[string]string{"hello": "world"}, nil
	case "/big":
		return events.LambdaFunctionURLResponse{StatusCode: 200, Body: strings.Repeat("x", 7<<20)}, nil
	}
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return nil, err
		}
		body = b
	}
	out, err := json.Marshal(echo(ctx, raw, req.RequestContext.HTTP.Method, req.RawPath, req.RawQueryString, nil, body))
	if err != nil {
		return nil, err
	}
	return events.LambdaFunctionURLResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(out),
	}, nil
}

func main() {
	if code := os.Getenv("FN_EXIT_AT_INIT"); code != "" {
		n, _ := strconv.Atoi(code)
		fmt.Fprintln(os.Stderr, "fn: exiting during init")
		os.Exit(n)
	}
	if os.Getenv("FN_INIT_ERROR") == "1" {
		// Report an init error by hand, as runtimes other than
		// aws-lambda-go do, then wait to be killed.
		req, _ := http.NewRequest("POST", "http://"+os.Getenv("AWS_LAMBDA_RUNTIME_API")+"/2018-06-01/runtime/init/error",
			strings.NewReader(`{"errorMessage":"no config","errorType":"TestInitError"}`))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.TestInitError")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fn: init/error:", err)
			os.Exit(1)
		}
		fmt.Println("fn: init/error:", resp.Status)
		select {}
	}
	var opts []lambda.Option
	if os.Getenv("FN_SIGTERM") == "1" {
		opts = append(opts, lambda.WithEnableSIGTERM(func() {
			fmt.Println("fn: SIGTERM")
			os.Exit(0)
		}))
	}
	fmt.Println("fn: init", os.Getenv("FN_MODE"))
	if os.Getenv("FN_MODE") == "buffered" {
		lambda.StartWithOptions(buffered, opts...)
		return
	}
	lambda.StartWithOptions(streaming(lambdaurl.Wrap(streamingMux())), opts...)
}
