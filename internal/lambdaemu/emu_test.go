//go:build unix

package lambdaemu_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/mcpfleet/mcpfleet/internal/lambdaemu"
)

// fnPath is the test function (testdata/fn), built once by TestMain.
var fnPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambdaemu-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fnPath = filepath.Join(dir, "bootstrap")
	build := exec.Command("go", "build", "-o", fnPath, "./testdata/fn")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building testdata/fn:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is an io.Writer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start starts an emulator running the test function in opts.Mode, closed
// when the test ends; its output is logged if the test fails.
func start(t *testing.T, opts lambdaemu.Options) (*lambdaemu.Emulator, *syncBuffer) {
	t.Helper()
	if opts.Command == nil {
		opts.Command = []string{fnPath}
	}
	opts.Env = append([]string{"FN_MODE=" + opts.Mode.String()}, opts.Env...)
	out := &syncBuffer{}
	opts.Output = out
	emu, err := lambdaemu.Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := emu.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			t.Logf("emulator output:\n%s", out)
		}
	})
	return emu, out
}

var client = &http.Client{Timeout: 15 * time.Second}

// do sends a request and returns the response with its body read.
func do(t *testing.T, method, u string, header http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, u, err)
	}
	return resp, b
}

// echo mirrors testdata/fn's Echo.
type echo struct {
	Event       json.RawMessage   `json:"event"`
	Method      string            `json:"method"`
	Path        string            `json:"path"`
	Query       string            `json:"query"`
	Header      map[string]string `json:"header"`
	Body        []byte            `json:"body"`
	RequestID   string            `json:"requestId"`
	FunctionARN string            `json:"functionArn"`
	DeadlineMs  int64             `json:"deadlineMs"`
	TraceID     string            `json:"traceId"`
	Env         map[string]string `json:"env"`
	PID         int               `json:"pid"`
}

func getEcho(t *testing.T, u string) echo {
	t.Helper()
	resp, body := do(t, "GET", u, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", u, resp.Status, body)
	}
	var e echo
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("GET %s: decoding %q: %v", u, body, err)
	}
	return e
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// procState returns the state letter of /proc/<pid>/stat ('S', 'R', 'T', ...).
func procState(t *testing.T, pid int) byte {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("reading /proc/%d/stat: %v", pid, err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return b[i+2]
}

var modes = []lambdaemu.Mode{lambdaemu.Streaming, lambdaemu.Buffered}

func TestStartErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts lambdaemu.Options
	}{
		{"no command", lambdaemu.Options{}},
		{"missing binary", lambdaemu.Options{Command: []string{"./no/such/bootstrap"}}},
		{"negative timeout", lambdaemu.Options{Command: []string{fnPath}, Timeout: -1}},
		{"bad mode", lambdaemu.Options{Command: []string{fnPath}, Mode: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if emu, err := lambdaemu.Start(tc.opts); err == nil {
				emu.Close()
				t.Fatal("Start succeeded")
			}
		})
	}
}

// TestEvent checks the function URL event as the function sees it.
func TestEvent(t *testing.T) {
	t.Parallel()
	binary := []byte{0, 1, 2, 0xfe, 0xff}
	tests := []struct {
		name       string
		method     string
		target     string
		header     http.Header
		body       []byte
		wantRaw    string // rawPath
		wantPath   string // path as the streaming handler sees it
		wantQuery  map[string]string
		wantB64    bool
		wantCookie []string
	}{
		{
			name:   "json post",
			method: "POST",
			target: "/mcp/a%20b?a=1&a=2&b=x%20y",
			header: http.Header{
				"Content-Type": {"application/json"},
				"X-Multi":      {"v1", "v2"},
				"Cookie":       {"c1=v1; c2=v2"},
				"User-Agent":   {"emu-test/1"},
			},
			body:       []byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`),
			wantRaw:    "/mcp/a%20b",
			wantPath:   "/mcp/a b",
			wantQuery:  map[string]string{"a": "1,2", "b": "x y"},
			wantCookie: []string{"c1=v1", "c2=v2"},
		},
		{
			name:     "binary post",
			method:   "POST",
			target:   "/upload",
			header:   http.Header{"Content-Type": {"application/octet-stream"}},
			body:     binary,
			wantRaw:  "/upload",
			wantPath: "/upload",
			wantB64:  true,
		},
		{
			name:      "form post",
			method:    "POST",
			target:    "/form?x=",
			header:    http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			body:      []byte("a=b&c=d"),
			wantRaw:   "/form",
			wantPath:  "/form",
			wantQuery: map[string]string{"x": ""},
			wantB64:   true,
		},
		{
			name:     "text get without body",
			method:   "GET",
			target:   "/",
			header:   http.Header{"Accept": {"application/json", "text/event-stream"}},
			wantRaw:  "/",
			wantPath: "/",
		},
		{
			name:     "sse text body",
			method:   "DELETE",
			target:   "/mcp",
			header:   http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
			body:     []byte("héllo"),
			wantRaw:  "/mcp",
			wantPath: "/mcp",
		},
	}
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			emu, _ := start(t, lambdaemu.Options{Mode: mode})
			host := strings.TrimPrefix(emu.URL(), "http://")
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					before := time.Now()
					resp, body := do(t, tc.method, emu.URL()+tc.target, tc.header, tc.body)
					after := time.Now()
					if resp.StatusCode != 200 {
						t.Fatalf("status %s, body %q", resp.Status, body)
					}
					var got echo
					if err := json.Unmarshal(body, &got); err != nil {
						t.Fatalf("decoding %q: %v", body, err)
					}
					if !bytes.Equal(got.Body, tc.body) {
						t.Errorf("function read body %q, want %q", got.Body, tc.body)
					}
					if resp.Header.Get("X-Amzn-Requestid") != got.RequestID {
						t.Errorf("x-amzn-RequestId %q, function saw request ID %q", resp.Header.Get("X-Amzn-Requestid"), got.RequestID)
					}

					var ev events.LambdaFunctionURLRequest
					if err := json.Unmarshal(got.Event, &ev); err != nil {
						t.Fatal(err)
					}
					var extra struct {
						RouteKey       string `json:"routeKey"`
						RequestContext struct {
							RouteKey string `json:"routeKey"`
							Stage    string `json:"stage"`
						} `json:"requestContext"`
					}
					if err := json.Unmarshal(got.Event, &extra); err != nil {
						t.Fatal(err)
					}
					rc := ev.RequestContext
					u, _ := url.Parse(tc.target)
					checks := []struct {
						what      string
						got, want any
					}{
						{"version", ev.Version, "2.0"},
						{"routeKey", extra.RouteKey, "$default"},
						{"requestContext.routeKey", extra.RequestContext.RouteKey, "$default"},
						{"requestContext.stage", extra.RequestContext.Stage, "$default"},
						{"rawPath", ev.RawPath, tc.wantRaw},
						{"rawQueryString", ev.RawQueryString, u.RawQuery},
						{"cookies", strings.Join(ev.Cookies, "|"), strings.Join(tc.wantCookie, "|")},
						{"isBase64Encoded", ev.IsBase64Encoded, tc.wantB64 && len(tc.body) > 0},
						{"accountId", rc.AccountID, "anonymous"},
						{"domainName", rc.DomainName, host},
						{"domainPrefix", rc.DomainPrefix, rc.APIID},
						{"apiId length", len(rc.APIID), 32},
						{"http.method", rc.HTTP.Method, tc.method},
						{"http.path", rc.HTTP.Path, tc.wantRaw},
						{"http.protocol", rc.HTTP.Protocol, "HTTP/1.1"},
						{"http.sourceIp", rc.HTTP.SourceIP, "127.0.0.1"},
						{"http.userAgent", rc.HTTP.UserAgent, tc.header.Get("User-Agent") + map[bool]string{true: "Go-http-client/1.1"}[tc.header.Get("User-Agent") == ""]},
						{"requestId", rc.RequestID, got.RequestID},
						{"host header", ev.Headers["host"], host},
						{"x-forwarded-for", ev.Headers["x-forwarded-for"], "127.0.0.1"},
						{"x-forwarded-proto", ev.Headers["x-forwarded-proto"], "http"},
						{"cookie header", ev.Headers["cookie"], ""},
						{"content-length header", ev.Headers["content-length"], ""},
						{"content-type header", ev.Headers["content-type"], tc.header.Get("Content-Type")},
						{"function saw method", got.Method, tc.method},
					}
					for k, vs := range tc.header {
						if k != "Cookie" {
							checks = append(checks, struct {
								what      string
								got, want any
							}{"header " + k, ev.Headers[strings.ToLower(k)], strings.Join(vs, ",")})
						}
					}
					if mode == lambdaemu.Streaming {
						// What lambdaurl hands the http.Handler.
						checks = append(checks, []struct {
							what      string
							got, want any
						}{
							{"handler path", got.Path, tc.wantPath},
							{"handler query", got.Query, u.RawQuery},
							{"handler X-Multi", got.Header["X-Multi"], strings.Join(tc.header["X-Multi"], ",")},
						}...)
					}
					for _, c := range checks {
						if c.got != c.want {
							t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
						}
					}
					if tc.wantQuery == nil && ev.QueryStringParameters != nil {
						t.Errorf("queryStringParameters = %v, want none", ev.QueryStringParameters)
					}
					for k, v := range tc.wantQuery {
						if ev.QueryStringParameters[k] != v {
							t.Errorf("queryStringParameters[%q] = %q, want %q", k, ev.QueryStringParameters[k], v)
						}
					}
					if tc.wantB64 {
						dec, err := base64.StdEncoding.DecodeString(ev.Body)
						if err != nil || !bytes.Equal(dec, tc.body) {
							t.Errorf("event body %q does not decode to %q (%v)", ev.Body, tc.body, err)
						}
					} else if ev.Body != string(tc.body) {
						t.Errorf("event body %q, want %q", ev.Body, tc.body)
					}
					epoch := time.UnixMilli(rc.TimeEpoch)
					if epoch.Before(before.Truncate(time.Millisecond)) || epoch.After(after) {
						t.Errorf("timeEpoch %v not within the request [%v, %v]", epoch, before, after)
					}
					if ts, err := time.Parse("02/Jan/2006:15:04:05 -0700", rc.Time); err != nil || ts.Unix() != rc.TimeEpoch/1000 {
						t.Errorf("time %q does not match timeEpoch %d (%v)", rc.Time, rc.TimeEpoch, err)
					}
				})
			}
		})
	}
}

// TestInvocationContext checks the Runtime API headers and the environment
// as the function sees them.
func TestInvocationContext(t *testing.T) {
	t.Parallel()
	emu, out := start(t, lambdaemu.Options{FunctionName: "testfn", Timeout: 7 * time.Second, Env: []string{"FN_EXTRA=yes"}})
	e := getEcho(t, emu.URL()+"/echo")
	st := emu.Stats()
	if len(st.Instances) != 1 || len(st.Invocations) != 1 {
		t.Fatalf("stats: %+v", st)
	}
	in, inv := st.Instances[0], st.Invocations[0]
	if e.RequestID != inv.RequestID || !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(e.RequestID) {
		t.Errorf("request ID %q (stats %q)", e.RequestID, inv.RequestID)
	}
	if want := "arn:aws:lambda:eu-west-1:123456789012:function:testfn"; e.FunctionARN != want || emu.FunctionARN() != want {
		t.Errorf("function ARN %q, FunctionARN() %q, want %q", e.FunctionARN, emu.FunctionARN(), want)
	}
	if want := inv.Arrived.Add(7 * time.Second).UnixMilli(); e.DeadlineMs != want || inv.Deadline.UnixMilli() != want {
		t.Errorf("deadline %d, want arrival+timeout %d", e.DeadlineMs, want)
	}
	if !regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=1$`).MatchString(e.TraceID) {
		t.Errorf("trace ID %q", e.TraceID)
	}
	wantEnv := map[string]string{
		"AWS_LAMBDA_RUNTIME_API":          in.RuntimeAPI,
		"AWS_LAMBDA_FUNCTION_NAME":        "testfn",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
		"AWS_REGION":                      "eu-west-1",
		"AWS_DEFAULT_REGION":              "eu-west-1",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/testfn",
		"_HANDLER":                        "bootstrap",
		"LAMBDA_TASK_ROOT":                filepath.Dir(fnPath),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"FN_EXTRA":                        "yes",
	}
	for k, v := range wantEnv {
		if e.Env[k] != v {
			t.Errorf("$%s = %q, want %q", k, e.Env[k], v)
		}
	}
	if !strings.HasPrefix(in.RuntimeAPI, "127.0.0.1:") {
		t.Errorf("RuntimeAPI %q", in.RuntimeAPI)
	}
	if !regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$`).MatchString(e.Env["AWS_LAMBDA_LOG_STREAM_NAME"]) {
		t.Errorf("log stream name %q", e.Env["AWS_LAMBDA_LOG_STREAM_NAME"])
	}
	if in.PID != e.PID || in.ID != 1 || in.Invocations != 1 || in.Errors != 0 {
		t.Errorf("instance stats %+v, function pid %d", in, e.PID)
	}
	if in.InitDuration() <= 0 || in.ColdStart() < in.InitDuration() {
		t.Errorf("init %v, cold start %v", in.InitDuration(), in.ColdStart())
	}
	if inv.Outcome != lambdaemu.OutcomeSuccess || inv.Status != 200 || inv.Instance != 1 {
		t.Errorf("invocation stats %+v", inv)
	}
	waitFor(t, 2*time.Second, "REPORT line", func() bool { return strings.Contains(out.String(), "[i1] REPORT RequestId: "+e.RequestID) })
	for _, want := range []string{"[i1] fn: init streaming\n", "[i1] START RequestId: " + e.RequestID, "Init Duration: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// readEvents reads SSE events from r, returning each event's data and the
// time it arrived, and the error that ended the stream (nil at EOF).
func readEvents(r io.Reader) (data []string, at []time.Time, err error) {
	br := bufio.NewReader(r)
	var cur []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if err == io.EOF && line == "" {
				err = nil
			}
			return data, at, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if cur != nil {
				data = append(data, strings.Join(cur, "\n"))
				at = append(at, time.Now())
				cur = nil
			}
			continue
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			cur = append(cur, v)
		}
	}
}

func TestStreamingIsIncremental(t *testing.T) {
	t.Parallel()
	emu, _ := start(t, lambdaemu.Options{Mode: lambdaemu.Streaming})
	resp, err := client.Get(emu.URL() + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Set-Cookie") != "s=1; Path=/" {
		t.Fatalf("status %s, headers %v", resp.Status, resp.Header)
	}
	data, at, err := readEvents(resp.Body)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	if want := []string{"event 0", "event 1", "event 2"}; !slices.Equal(data, want) {
		t.Fatalf("events %q, want %q", data, want)
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < 150*time.Millisecond {
			t.Errorf("event %d arrived %v after event %d; want >= 150ms (the function writes them 200ms apart)", i, gap, i-1)
		}
	}
}

func TestBufferedResponses(t *testing.T) {
	t.Parallel()
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	tests := []struct {
		path        string
		wantStatus  int
		wantBody    []byte
		wantHeader  map[string]string
		wantCookies []string
	}{
		{
			path:        "/bin",
			wantStatus:  201,
			wantBody:    allBytes,
			wantHeader:  map[string]string{"Content-Type": "application/octet-stream", "X-Test": "yes", "Content-Length": "256"},
			wantCookies: []string{"a=1; Path=/", "b=2"},
		},
		{
			path:       "/raw",
			wantStatus: 200,
			wantBody:   []byte(`{"hello":"world"}`),
			wantHeader: map[string]string{"Content-Type": "application/json"},
		},
		{
			path:       "/error",
			wantStatus: 502,
			wantBody:   []byte(`{"Message":"Internal Server Error"}`),
		},
		{
			path:       "/big",
			wantStatus: 502,
			wantBody:   []byte(`{"Message":"Internal Server Error"}`),
		},
	}
	// A function answering in the buffered format behind a streaming
	// function URL is interpreted the same way.
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			emu, _ := start(t, lambdaemu.Options{Mode: mode, Env: []string{"FN_MODE=buffered"}})
			for _, tc := range tests {
				t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
					resp, body := do(t, "GET", emu.URL()+tc.path, nil, nil)
					if resp.StatusCode != tc.wantStatus || !bytes.Equal(body, tc.wantBody) {
						t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tc.wantStatus, tc.wantBody)
					}
					for k, v := range tc.wantHeader {
						if got := resp.Header.Get(k); got != v {
							t.Errorf("header %s = %q, want %q", k, got, v)
						}
					}
					if got := resp.Header.Values("Set-Cookie"); !slices.Equal(got, tc.wantCookies) {
						t.Errorf("Set-Cookie %q, want %q", got, tc.wantCookies)
					}
				})
			}
		})
	}
}

// TestFailures covers function errors and crashes: the client gets 502, or
// a cut stream once the response has started, the platform log says why,
// and the function keeps serving.
func TestFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode         lambdaemu.Mode
		path         string
		wantCut      bool // 200, then a broken body
		wantLog      string
		wantOutcome  lambdaemu.Outcome
		wantNewInst  bool // the failure ends the instance
		wantExitText string
	}{
		{lambdaemu.Streaming, "/error", false, "Error: function error errorString: {\"errorMessage\":\"boom\"", lambdaemu.OutcomeError, false, ""},
		{lambdaemu.Buffered, "/error", false, "Error: function error errorString:", lambdaemu.OutcomeError, false, ""},
		{lambdaemu.Buffered, "/big", false, "Response payload size exceeded maximum allowed payload size (6291556 bytes).", lambdaemu.OutcomeError, true, "exit status 1"},
		{lambdaemu.Streaming, "/streamerr", true, "response ended with function error errorString: {\"errorMessage\":\"stream exploded\"", lambdaemu.OutcomeError, false, ""},
		{lambdaemu.Streaming, "/crash", false, "Error: Runtime exited with error: exit status 3 (Runtime.ExitError)", lambdaemu.OutcomeCrash, true, "exit status 3"},
		{lambdaemu.Buffered, "/crash", false, "Error: Runtime exited with error: exit status 3 (Runtime.ExitError)", lambdaemu.OutcomeCrash, true, "exit status 3"},
	}
	for _, tc := range tests {
		t.Run(tc.mode.String()+tc.path, func(t *testing.T) {
			t.Parallel()
			emu, out := start(t, lambdaemu.Options{Mode: tc.mode})
			resp, err := client.Get(emu.URL() + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, readErr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.wantCut {
				if resp.StatusCode != 200 || readErr == nil || !errors.Is(readErr, io.ErrUnexpectedEOF) {
					t.Errorf("got %s, body %q, read error %v; want 200 and a cut body", resp.Status, body, readErr)
				}
				if string(body) != "partial " {
					t.Errorf("body before the cut %q, want %q", body, "partial ")
				}
			} else if resp.StatusCode != 502 || string(body) != `{"Message":"Internal Server Error"}` || readErr != nil {
				t.Errorf("got %s %q (%v), want 502 Internal Server Error", resp.Status, body, readErr)
			}
			waitFor(t, 3*time.Second, "the log line", func() bool { return strings.Contains(out.String(), tc.wantLog) })
			if tc.wantNewInst {
				waitFor(t, 3*time.Second, "the instance to exit", func() bool { return !emu.Stats().Instances[0].Exited.IsZero() })
			}

			e := getEcho(t, emu.URL()+"/echo")
			st := emu.Stats()
			if got := st.Invocations[0].Outcome; got != tc.wantOutcome {
				t.Errorf("outcome %q, want %q", got, tc.wantOutcome)
			}
			wantInstances := 1
			if tc.wantNewInst {
				wantInstances = 2
			}
			if len(st.Instances) != wantInstances || st.Instances[len(st.Instances)-1].PID != e.PID {
				t.Errorf("%d instances (%+v), want %d, the last serving the second request", len(st.Instances), st.Instances, wantInstances)
			}
			if st.Instances[0].ExitError != tc.wantExitText {
				t.Errorf("first instance exit %q, want %q", st.Instances[0].ExitError, tc.wantExitText)
			}
			if st.Instances[0].Errors != 1 {
				t.Errorf("first instance errors %d, want 1", st.Instances[0].Errors)
			}
		})
	}
}

// TestTimeout: at the deadline the instance is killed and the response cut
// (or 502 if it had not started); a stream that ends before the deadline is
// unaffected.
func TestTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode        lambdaemu.Mode
		path        string
		timeout     time.Duration
		wantStatus  int
		wantCut     bool
		wantOutcome lambdaemu.Outcome
	}{
		{lambdaemu.Streaming, "/forever", time.Second, 200, true, lambdaemu.OutcomeTimeout},
		{lambdaemu.Buffered, "/slow", time.Second, 502, false, lambdaemu.OutcomeTimeout},
		{lambdaemu.Streaming, "/slow", time.Second, 502, false, lambdaemu.OutcomeTimeout},
		{lambdaemu.Streaming, "/polite", 1500 * time.Millisecond, 200, false, lambdaemu.OutcomeSuccess},
	}
	for _, tc := range tests {
		t.Run(tc.mode.String()+tc.path, func(t *testing.T) {
			t.Parallel()
			emu, out := start(t, lambdaemu.Options{Mode: tc.mode, Timeout: tc.timeout})
			began := time.Now()
			resp, err := client.Get(emu.URL() + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			var data []string
			var readErr error
			if tc.wantStatus == 200 {
				data, _, readErr = readEvents(resp.Body)
			} else {
				_, readErr = io.ReadAll(resp.Body)
			}
			resp.Body.Close()
			elapsed := time.Since(began)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.wantCut != (readErr != nil) {
				t.Errorf("read error %v, want cut=%v", readErr, tc.wantCut)
			}
			if tc.wantOutcome == lambdaemu.OutcomeTimeout && (elapsed < tc.timeout-50*time.Millisecond || elapsed > tc.timeout+2*time.Second) {
				t.Errorf("response ended after %v, timeout %v", elapsed, tc.timeout)
			}
			if tc.wantOutcome == lambdaemu.OutcomeSuccess && elapsed >= tc.timeout {
				t.Errorf("response ended after %v, not before the deadline (%v)", elapsed, tc.timeout)
			}
			if tc.path == "/forever" && len(data) < 3 {
				t.Errorf("got %d events before the cut, want several", len(data))
			}
			if tc.path == "/polite" && (len(data) == 0 || data[len(data)-1] != "bye") {
				t.Errorf("events %q, want the stream to end with bye", data)
			}

			st := emu.Stats()
			if got := st.Invocations[0].Outcome; got != tc.wantOutcome {
				t.Errorf("outcome %q, want %q", got, tc.wantOutcome)
			}
			if tc.wantOutcome != lambdaemu.OutcomeTimeout {
				return
			}
			waitFor(t, 3*time.Second, "timeout line", func() bool {
				return regexp.MustCompile(`\[i1\] \S+ ` + st.Invocations[0].RequestID + ` Task timed out after 1\.0\d seconds`).MatchString(out.String())
			})
			waitFor(t, 3*time.Second, "the instance to exit", func() bool { return !emu.Stats().Instances[0].Exited.IsZero() })
			if in := emu.Stats().Instances[0]; !in.TimedOut || in.ExitError != "signal: killed" {
				t.Errorf("instance %+v, want timed out and killed", in)
			}
			e := getEcho(t, emu.URL()+"/echo")
			if st := emu.Stats(); len(st.Instances) != 2 || st.Instances[1].PID != e.PID {
				t.Errorf("after the timeout: %+v, want a second instance serving", st.Instances)
			}
		})
	}
}

// inflight starts a request in the background and waits until the function
// has it; the returned function waits for and returns its status.
func inflight(t *testing.T, emu *lambdaemu.Emulator, path string) func() int {
	t.Helper()
	n := len(emu.Stats().Invocations)
	status := make(chan int, 1)
	go func() {
		resp, err := client.Get(emu.URL() + path)
		if err != nil {
			status <- -1
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	waitFor(t, 5*time.Second, "the invocation to be dispatched", func() bool {
		st := emu.Stats()
		return len(st.Invocations) > n && !st.Invocations[n].Dispatched.IsZero()
	})
	return func() int { return <-status }
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			emu, _ := start(t, lambdaemu.Options{Mode: mode, MaxInstances: 1})
			wait := inflight(t, emu, "/sleep?ms=700")
			resp, body := do(t, "POST", emu.URL()+"/mcp", http.Header{"Content-Type": {"application/json"}}, []byte(`{}`))
			if resp.StatusCode != 429 || string(body) != `{"Message":"Rate Exceeded."}` || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("got %s %q, want 429 Rate Exceeded.", resp.Status, body)
			}
			if got := wait(); got != 200 {
				t.Errorf("first request: %d", got)
			}
			// Back to back requests reuse the instance without throttling.
			for range 3 {
				getEcho(t, emu.URL()+"/echo")
			}
			st := emu.Stats()
			if st.Throttles != 1 || len(st.Instances) != 1 || st.Instances[0].Invocations != 4 {
				t.Errorf("throttles %d, instances %+v", st.Throttles, st.Instances)
			}
			if got := st.Invocations[1].Outcome; got != lambdaemu.OutcomeThrottled {
				t.Errorf("second invocation outcome %q", got)
			}
		})
	}
}

func TestScaleOut(t *testing.T) {
	t.Parallel()
	emu, _ := start(t, lambdaemu.Options{MaxInstances: 2})
	wait := inflight(t, emu, "/sleep?ms=700")
	e := getEcho(t, emu.URL()+"/echo")
	if got := wait(); got != 200 {
		t.Errorf("first request: %d", got)
	}
	st := emu.Stats()
	if len(st.Instances) != 2 || st.Instances[1].PID != e.PID || st.Instances[0].PID == e.PID {
		t.Fatalf("instances %+v, second request served by pid %d", st.Instances, e.PID)
	}
	for _, in := range st.Instances {
		if in.ColdStart() <= 0 || in.Invocations != 1 {
			t.Errorf("instance %+v", in)
		}
	}
	// Both idle now: the next two requests in a row start nothing new.
	getEcho(t, emu.URL()+"/echo")
	getEcho(t, emu.URL()+"/echo")
	if n := len(emu.Stats().Instances); n != 2 {
		t.Errorf("%d instances, want 2", n)
	}
}

func TestFreeze(t *testing.T) {
	t.Parallel()
	for _, freeze := range []bool{true, false} {
		t.Run(fmt.Sprint("freeze=", freeze), func(t *testing.T) {
			t.Parallel()
			emu, _ := start(t, lambdaemu.Options{Freeze: freeze})
			for i := range 3 {
				e := getEcho(t, emu.URL()+"/echo")
				if freeze {
					waitFor(t, 2*time.Second, "the instance to be stopped", func() bool { return procState(t, e.PID) == 'T' })
					if in := emu.Stats().Instances[0]; !in.Frozen || in.Freezes != i+1 {
						// Frozen after each invocation (not after init: the
						// first invocation was already waiting).
						t.Errorf("after request %d: %+v", i, in)
					}
				} else {
					time.Sleep(100 * time.Millisecond)
					if s := procState(t, e.PID); s == 'T' {
						t.Errorf("process stopped without Freeze")
					}
				}
			}
			if n := len(emu.Stats().Instances); n != 1 {
				t.Errorf("%d instances, want 1", n)
			}
		})
	}
}

func TestClientGoes(t *testing.T) {
	t.Parallel()
	emu, _ := start(t, lambdaemu.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", emu.URL()+"/sse", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "id: 0\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	cancel()
	resp.Body.Close()
	waitFor(t, 3*time.Second, "the invocation to complete", func() bool {
		return emu.Stats().Invocations[0].Outcome != lambdaemu.OutcomePending
	})
	if inv := emu.Stats().Invocations[0]; inv.Outcome != lambdaemu.OutcomeSuccess || !inv.ClientGone {
		t.Errorf("invocation %+v, want success with the client gone", inv)
	}
	getEcho(t, emu.URL()+"/echo")
}

// TestInitFailure: an instance that exits or reports an error during init
// fails the invocation that started it (502) and is replaced.
func TestInitFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env      string
		wantLog  []string
		wantExit string
	}{
		{"FN_EXIT_AT_INIT=4", []string{"[i1] fn: exiting during init\n", " Error: Runtime exited with error: exit status 4 (Runtime.ExitError)\n"}, "exit status 4"},
		{"FN_INIT_ERROR=1", []string{"[i1] INIT_REPORT Error: Runtime.TestInitError: {\"errorMessage\":\"no config\""}, "signal: killed"},
	}
	for _, tc := range tests {
		t.Run(tc.env, func(t *testing.T) {
			t.Parallel()
			emu, out := start(t, lambdaemu.Options{Env: []string{tc.env}})
			for i := range 2 {
				resp, body := do(t, "GET", emu.URL()+"/", nil, nil)
				if resp.StatusCode != 502 || string(body) != `{"Message":"Internal Server Error"}` {
					t.Errorf("request %d: got %s %q, want 502", i, resp.Status, body)
				}
				waitFor(t, 3*time.Second, "the instance to exit", func() bool {
					st := emu.Stats()
					return len(st.Instances) == i+1 && !st.Instances[i].Exited.IsZero()
				})
			}
			for _, want := range tc.wantLog {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q", want)
				}
			}
			st := emu.Stats()
			if in := st.Instances[0]; in.ExitError != tc.wantExit || !in.FirstNext.IsZero() {
				t.Errorf("instance %+v, want exit %q and no /next", in, tc.wantExit)
			}
			if st.Invocations[0].Outcome != lambdaemu.OutcomeCrash || st.Invocations[1].Outcome != lambdaemu.OutcomeCrash {
				t.Errorf("invocations %+v", st.Invocations)
			}
		})
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	for _, sigterm := range []bool{true, false} {
		t.Run(fmt.Sprint("sigterm=", sigterm), func(t *testing.T) {
			t.Parallel()
			opts := lambdaemu.Options{Command: []string{fnPath}, Freeze: true}
			if sigterm {
				opts.Env = []string{"FN_SIGTERM=1"}
			}
			out := &syncBuffer{}
			opts.Output = out
			emu, err := lambdaemu.Start(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer emu.Close()
			e := getEcho(t, emu.URL()+"/echo")
			waitFor(t, 2*time.Second, "freeze", func() bool { return emu.Stats().Instances[0].Frozen })
			if err := emu.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			in := emu.Stats().Instances[0]
			if in.Exited.IsZero() {
				t.Fatalf("instance still running after Close: %+v", in)
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", e.PID)); err == nil {
				t.Errorf("process %d still exists", e.PID)
			}
			if sigterm {
				if in.ExitError != "" || !slices.Equal(in.Extensions, []string{"GoLangEnableSIGTERM"}) || !strings.Contains(out.String(), "[i1] fn: SIGTERM\n") {
					t.Errorf("instance %+v; output:\n%s", in, out)
				}
			} else if in.ExitError != "signal: killed" {
				t.Errorf("exit %q, want signal: killed", in.ExitError)
			}
			if _, err := client.Get(emu.URL() + "/echo"); err == nil {
				t.Errorf("front end still answers after Close")
			}
			if err := emu.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestRequestTooLarge(t *testing.T) {
	t.Parallel()
	emu, _ := start(t, lambdaemu.Options{})
	resp, body := do(t, "POST", emu.URL()+"/", http.Header{"Content-Type": {"application/json"}}, bytes.Repeat([]byte("x"), lambdaemu.MaxRequestPayload))
	if resp.StatusCode != 413 || !strings.Contains(string(body), "Request must be smaller than 6291456 bytes") {
		t.Errorf("got %s %q", resp.Status, body)
	}
	if n := len(emu.Stats().Instances); n != 0 {
		t.Errorf("%d instances started for a rejected request", n)
	}
}
