package lambda_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/mcpfleet/mcpfleet/adapters/lambda"
)

func event(method, path, body string, headers map[string]string) *events.LambdaFunctionURLRequest {
	e := &events.LambdaFunctionURLRequest{
		Version:        "2.0",
		RawPath:        path,
		RawQueryString: "a=1",
		Headers:        headers,
		Cookies:        []string{"c1=v1", "c2=v2"},
		Body:           body,
	}
	e.RequestContext.DomainName = "abc.lambda-url.eu-west-1.on.aws"
	e.RequestContext.HTTP.Method = method
	e.RequestContext.HTTP.Path = path
	e.RequestContext.HTTP.SourceIP = "203.0.113.9"
	return e
}

// echo answers with what it saw, and streams when asked.
func echo(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/panic":
			panic("boom")
		case "/binary":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write([]byte{0, 1, 2, 0xff})
			return
		case "/stream":
			// As handler.Handler finds out: without flushing anything.
			_, canFlush := w.(interface{ FlushError() error })
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("X-Can-Flush", map[bool]string{true: "yes", false: "no"}[canFlush])
			w.WriteHeader(200)
			for i := range 3 {
				io.WriteString(w, "data: "+string(rune('a'+i))+"\n\n")
				http.NewResponseController(w).Flush()
				time.Sleep(100 * time.Millisecond)
			}
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "1"})
		w.Header().Set("Content-Type", "application/json")
		_, hasDeadline := r.Context().Deadline()
		json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "url": r.URL.String(), "host": r.Host, "remote": r.RemoteAddr,
			"cookie": r.Header.Get("Cookie"), "accept": r.Header.Get("Accept"), "body": string(body),
			"trace": r.Header.Get("X-Amzn-Trace-Id"), "deadline": hasDeadline,
		})
	})
}

func invokeCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), "x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"), 10*time.Second) //nolint:staticcheck // aws-lambda-go's key
	t.Cleanup(cancel)
	return ctx
}

func TestBuffering(t *testing.T) {
	var after atomic.Int32
	fn := lambda.Buffering(echo(t), lambda.Options{AfterInvoke: func(context.Context) { after.Add(1) }, Logger: slog.New(slog.DiscardHandler)})
	tests := []struct {
		name   string
		ev     *events.LambdaFunctionURLRequest
		status int
		check  func(t *testing.T, r *events.LambdaFunctionURLResponse)
	}{
		{"request as the handler sees it", event("POST", "/mcp", `{"x":1}`, map[string]string{"accept": "application/json, text/event-stream"}), 200, func(t *testing.T, r *events.LambdaFunctionURLResponse) {
			var got map[string]any
			if r.IsBase64Encoded || json.Unmarshal([]byte(r.Body), &got) != nil {
				t.Fatalf("body %q (base64 %v)", r.Body, r.IsBase64Encoded)
			}
			want := map[string]any{"method": "POST", "url": "https://abc.lambda-url.eu-west-1.on.aws/mcp?a=1", "host": "abc.lambda-url.eu-west-1.on.aws",
				"remote": "203.0.113.9", "cookie": "c1=v1; c2=v2", "accept": "application/json, text/event-stream", "body": `{"x":1}`,
				"trace": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", "deadline": true}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			if len(r.Cookies) != 1 || r.Cookies[0] != "s=1" {
				t.Errorf("cookies %v", r.Cookies)
			}
		}},
		{"base64 body in", func() *events.LambdaFunctionURLRequest {
			e := event("POST", "/mcp", base64.StdEncoding.EncodeToString([]byte("raw")), nil)
			e.IsBase64Encoded = true
			return e
		}(), 200, func(t *testing.T, r *events.LambdaFunctionURLResponse) {
			if !strings.Contains(r.Body, `"body":"raw"`) {
				t.Errorf("body %q", r.Body)
			}
		}},
		{"binary out", event("GET", "/binary", "", nil), 200, func(t *testing.T, r *events.LambdaFunctionURLResponse) {
			b, err := base64.StdEncoding.DecodeString(r.Body)
			if !r.IsBase64Encoded || err != nil || !bytes.Equal(b, []byte{0, 1, 2, 0xff}) {
				t.Errorf("binary body %q base64=%v", r.Body, r.IsBase64Encoded)
			}
		}},
		{"no flush: SSE arrives whole", event("GET", "/stream", "", nil), 200, func(t *testing.T, r *events.LambdaFunctionURLResponse) {
			if r.Headers["X-Can-Flush"] != "no" || r.Body != "data: a\n\ndata: b\n\ndata: c\n\n" {
				t.Errorf("headers %v body %q", r.Headers, r.Body)
			}
		}},
		{"panic", event("GET", "/panic", "", nil), 500, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := after.Load()
			r, err := fn(invokeCtx(t), tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if r.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", r.StatusCode, tt.status, r.Body)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
			if after.Load() != before+1 {
				t.Errorf("AfterInvoke ran %d times", after.Load()-before)
			}
		})
	}
}

func TestStreaming(t *testing.T) {
	var after atomic.Int32
	fn := lambda.Streaming(echo(t), lambda.Options{AfterInvoke: func(context.Context) { after.Add(1) }, Logger: slog.New(slog.DiscardHandler)})
	resp, err := fn(invokeCtx(t), event("GET", "/stream", "", nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Headers["X-Can-Flush"] != "yes" || resp.Headers["Content-Type"] != "text/event-stream" {
		t.Fatalf("status %d headers %v", resp.StatusCode, resp.Headers)
	}
	// The events arrive one by one, as written.
	var stamps []time.Time
	buf := make([]byte, 64)
	var got strings.Builder
	for {
		n, err := resp.Read(buf)
		if n > 0 {
			stamps = append(stamps, time.Now())
			got.Write(buf[:n])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	body := got.String()
	if i := strings.Index(body, "\x00\x00\x00\x00\x00\x00\x00\x00"); i < 0 || body[i+8:] != "data: a\n\ndata: b\n\ndata: c\n\n" {
		t.Fatalf("stream %q", body)
	}
	if len(stamps) < 3 || stamps[len(stamps)-1].Sub(stamps[0]) < 150*time.Millisecond {
		t.Errorf("events did not arrive incrementally: %d reads over %v", len(stamps), stamps[len(stamps)-1].Sub(stamps[0]))
	}
	if after.Load() != 0 {
		t.Error("AfterInvoke ran before the runtime closed the response")
	}
	resp.Close()
	if after.Load() != 1 {
		t.Errorf("AfterInvoke ran %d times after close", after.Load())
	}

	// A panic before anything was written is a 500, not a crash.
	resp, err = fn(invokeCtx(t), event("GET", "/panic", "", nil))
	if err != nil || resp.StatusCode != 500 {
		t.Fatalf("panic: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp)
	resp.Close()
}

func TestMode(t *testing.T) {
	for in, want := range map[string]lambda.InvokeMode{"": lambda.ResponseStream, "buffered": lambda.Buffered, " RESPONSE_STREAM ": lambda.ResponseStream} {
		if got, err := lambda.Mode(in); err != nil || got != want {
			t.Errorf("Mode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := lambda.Mode("STREAM"); err == nil {
		t.Error("Mode(STREAM): no error")
	}
}
