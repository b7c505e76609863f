//go:build unix

package lambdaemu

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// An invocation is one function URL request on its way through an instance.
// Fields after the blank line are guarded by Emulator.mu, except that
// outcome and result may be read without it once term is closed (they are
// written once, before term is closed).
type invocation struct {
	id          string
	traceRoot   string
	traceHeader string // Lambda-Runtime-Trace-Id
	event       []byte
	arrived     time.Time
	deadline    time.Time
	frames      chan frame    // response head and body chunks, streamed responses only
	term        chan struct{} // closed when the outcome is decided
	gone        chan struct{} // closed when the client went away
	goneOnce    sync.Once

	inst       *instance
	first      bool // the first invocation of its instance
	timer      *time.Timer
	dispatched time.Time
	firstByte  time.Time
	completed  time.Time
	status     int
	outcome    Outcome
	result     *bufferedResponse // buffered responses
	done       bool
	answering  bool // a /response or /error call is reading it
	clientGone bool
}

// A frame is a streamed response's head or a chunk of its body.
type frame struct {
	head *responseHead
	data []byte
}

func newInvocation(arrived time.Time, timeout time.Duration) *invocation {
	root := newTraceRoot(arrived)
	return &invocation{
		id:          newRequestID(),
		traceRoot:   root,
		traceHeader: "Root=" + root + ";Parent=" + randHex(16) + ";Sampled=1",
		arrived:     arrived,
		deadline:    arrived.Add(timeout),
		frames:      make(chan frame),
		term:        make(chan struct{}),
		gone:        make(chan struct{}),
	}
}

// send passes f to the front end. It reports false when the invocation has
// ended (stop reading the response); when the client has gone, f is
// discarded and send reports true (keep reading, as Lambda lets the
// function run on).
func (inv *invocation) send(f frame) bool {
	select {
	case inv.frames <- f:
		return true
	case <-inv.gone:
		return true
	case <-inv.term:
		return false
	}
}

// writeFrontError writes a function URL error response, {"Message": msg}.
func writeFrontError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"Message": msg})
}

// serveFunctionURL is the function URL front end.
func (e *Emulator) serveFunctionURL(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		writeFrontError(w, http.StatusBadGateway, "Internal Server Error")
		return
	}
	e.handlers.Add(1)
	e.mu.Unlock()
	defer e.handlers.Done()

	arrived := time.Now()
	inv := newInvocation(arrived, e.opts.Timeout)
	w.Header().Set("X-Amzn-Requestid", inv.id)
	w.Header().Set("X-Amzn-Trace-Id", "Root="+inv.traceRoot+";Sampled=1")
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestPayload+1))
	if err != nil {
		return
	}
	tooLarge := "Request must be smaller than " + strconv.Itoa(MaxRequestPayload) + " bytes for the InvokeFunction operation"
	if len(body) > MaxRequestPayload {
		writeFrontError(w, http.StatusRequestEntityTooLarge, tooLarge)
		return
	}
	inv.event, err = json.Marshal(e.event(r, body, inv))
	if err != nil {
		writeFrontError(w, http.StatusBadGateway, "Internal Server Error")
		return
	}
	if len(inv.event) > MaxRequestPayload {
		writeFrontError(w, http.StatusRequestEntityTooLarge, tooLarge)
		return
	}
	switch err := e.acquire(r.Context(), inv); {
	case err == nil:
	case errors.Is(err, errThrottled):
		writeFrontError(w, http.StatusTooManyRequests, "Rate Exceeded.")
		return
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return
	default:
		if !errors.Is(err, errClosed) {
			e.logf(nil, "RequestId: %s Error: %v", inv.id, err)
		}
		writeFrontError(w, http.StatusBadGateway, "Internal Server Error")
		return
	}
	e.relay(w, r, inv)
}

// relay writes inv's response to the client as it comes: a streamed
// response's head and chunks as they arrive (flushing each), a buffered
// response whole, a failure as 502 or, once the response has started, by
// aborting the connection.
func (e *Emulator) relay(w http.ResponseWriter, r *http.Request, inv *invocation) {
	rc := http.NewResponseController(w)
	headWritten := false
	for {
		select {
		case f := <-inv.frames:
			var err error
			if f.head != nil {
				setResponseHeaders(w.Header(), f.head)
				w.WriteHeader(f.head.status)
				err = rc.Flush()
				headWritten = true
				e.markWritten(inv, f.head.status)
			} else if _, err = w.Write(f.data); err == nil {
				err = rc.Flush()
			}
			if err != nil {
				e.leave(inv)
				return
			}
		case <-inv.term:
			switch {
			case inv.outcome == OutcomeSuccess && inv.result != nil:
				res := inv.result
				setResponseHeaders(w.Header(), &res.responseHead)
				w.Header().Set("Content-Length", strconv.Itoa(len(res.body)))
				w.WriteHeader(res.status)
				e.markWritten(inv, res.status)
				_, _ = w.Write(res.body)
			case inv.outcome == OutcomeSuccess:
				// The stream ended normally.
			case headWritten:
				// Cut the response: the client sees a broken body.
				panic(http.ErrAbortHandler)
			default:
				e.markWritten(inv, http.StatusBadGateway)
				writeFrontError(w, http.StatusBadGateway, "Internal Server Error")
			}
			return
		case <-r.Context().Done():
			e.leave(inv)
			return
		}
	}
}

// markWritten records that the status line of inv's response was written.
func (e *Emulator) markWritten(inv *invocation, status int) {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	inv.firstByte = now
	inv.status = status
	if inv.first && inv.inst.firstByte.IsZero() {
		inv.inst.firstByte = now
	}
}

// leave records that the client went away; the invocation runs on and the
// rest of its response is discarded.
func (e *Emulator) leave(inv *invocation) {
	e.mu.Lock()
	inv.clientGone = true
	e.mu.Unlock()
	inv.goneOnce.Do(func() { close(inv.gone) })
}

// setResponseHeaders copies a function's response headers and cookies to
// h, leaving framing to net/http, and suppresses Content-Type sniffing when
// the function set no Content-Type.
func setResponseHeaders(h http.Header, head *responseHead) {
	for k, v := range head.headers {
		switch strings.ToLower(k) {
		case "content-length", "transfer-encoding", "connection":
			continue
		}
		h.Set(k, v)
	}
	for _, c := range head.cookies {
		h.Add("Set-Cookie", c)
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
}

// urlEvent is a function URL request event, payload format 2.0 (a superset
// of events.LambdaFunctionURLRequest as the service sends it).
type urlEvent struct {
	Version               string            `json:"version"`
	RouteKey              string            `json:"routeKey"`
	RawPath               string            `json:"rawPath"`
	RawQueryString        string            `json:"rawQueryString"`
	Cookies               []string          `json:"cookies,omitempty"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters,omitempty"`
	RequestContext        urlRequestContext `json:"requestContext"`
	Body                  string            `json:"body,omitempty"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
}

type urlRequestContext struct {
	AccountID    string  `json:"accountId"`
	APIID        string  `json:"apiId"`
	DomainName   string  `json:"domainName"`
	DomainPrefix string  `json:"domainPrefix"`
	HTTP         urlHTTP `json:"http"`
	RequestID    string  `json:"requestId"`
	RouteKey     string  `json:"routeKey"`
	Stage        string  `json:"stage"`
	Time         string  `json:"time"`
	TimeEpoch    int64   `json:"timeEpoch"`
}

type urlHTTP struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Protocol  string `json:"protocol"`
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// skipRequestHeader reports whether a (lower-case) request header is kept
// from the function: hop-by-hop and framing headers, which the service
// consumes, and Cookie, which goes to the event's cookies.
func skipRequestHeader(name string) bool {
	switch name {
	case "connection", "keep-alive", "proxy-connection", "te", "trailer",
		"transfer-encoding", "upgrade", "content-length", "expect", "cookie":
		return true
	}
	return false
}

// event turns a function URL request into its event.
func (e *Emulator) event(r *http.Request, body []byte, inv *invocation) *urlEvent {
	sourceIP, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		sourceIP = r.RemoteAddr
	}
	headers := make(map[string]string, len(r.Header)+5)
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if skipRequestHeader(lk) {
			continue
		}
		headers[lk] = strings.Join(vs, ",")
	}
	headers["host"] = r.Host
	if xff := headers["x-forwarded-for"]; xff != "" {
		headers["x-forwarded-for"] = xff + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	headers["x-forwarded-proto"] = "http"
	headers["x-forwarded-port"] = e.port
	if headers["x-amzn-trace-id"] == "" {
		headers["x-amzn-trace-id"] = "Root=" + inv.traceRoot
	}

	var cookies []string
	for _, line := range r.Header.Values("Cookie") {
		for c := range strings.SplitSeq(line, ";") {
			if c = strings.TrimSpace(c); c != "" {
				cookies = append(cookies, c)
			}
		}
	}

	var query map[string]string
	if r.URL.RawQuery != "" {
		if values, err := url.ParseQuery(r.URL.RawQuery); err == nil && len(values) > 0 {
			query = make(map[string]string, len(values))
			for k, vs := range values {
				query[k] = strings.Join(vs, ",")
			}
		}
	}

	// The service's domainPrefix is the URL ID, the first label of its
	// host name; for an IP address host use the emulator's URL ID.
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	domainPrefix := e.apiID
	if host != "" && net.ParseIP(host) == nil {
		domainPrefix, _, _ = strings.Cut(host, ".")
	}

	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	ev := &urlEvent{
		Version:               "2.0",
		RouteKey:              "$default",
		RawPath:               path,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		RequestContext: urlRequestContext{
			AccountID:    "anonymous",
			APIID:        e.apiID,
			DomainName:   r.Host,
			DomainPrefix: domainPrefix,
			HTTP: urlHTTP{
				Method:    r.Method,
				Path:      path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
			RequestID: inv.id,
			RouteKey:  "$default",
			Stage:     "$default",
			Time:      inv.arrived.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch: inv.arrived.UnixMilli(),
		},
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type")) && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// isText reports whether a request body of content type ct is passed to the
// function as text rather than base64: text/*, JSON, XML and JavaScript.
func isText(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", mt == "application/xml",
		mt == "application/javascript", mt == "application/ecmascript",
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	return false
}
