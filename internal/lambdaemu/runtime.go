//go:build unix

package lambdaemu

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Runtime API and Extensions API protocol constants.
const (
	headerRequestID          = "Lambda-Runtime-Aws-Request-Id"
	headerDeadlineMs         = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN        = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID            = "Lambda-Runtime-Trace-Id"
	headerErrorType          = "Lambda-Runtime-Function-Error-Type"
	trailerErrorType         = "Lambda-Runtime-Function-Error-Type"
	trailerErrorBody         = "Lambda-Runtime-Function-Error-Body"
	headerExtensionName      = "Lambda-Extension-Name"
	headerExtensionID        = "Lambda-Extension-Identifier"
	streamingContentType     = "application/vnd.awslambda.http-integration-response"
	preludeDelimiterLen      = 8
	maxPrelude               = 1 << 20
	maxErrorBody             = 1 << 20
	streamChunk              = 32 << 10
	runtimeAPIPrefix         = "/2018-06-01/runtime"
	extensionAPIPrefix       = "/2020-01-01/extension"
	errTypeInvalidRequestID  = "InvalidRequestID"
	errTypeInvalidState      = "InvalidStateTransition"
	errTypeTooLarge          = "RequestEntityTooLarge"
	errTypeInvalidResponse   = "Runtime.InvalidResponse"
	errTypeExtensionNotFound = "Extension.UnknownExtensionIdentifier"
)

// routes returns the instance's Runtime API and Extensions API handler.
func (in *instance) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+runtimeAPIPrefix+"/invocation/next", in.handleNext)
	mux.HandleFunc("POST "+runtimeAPIPrefix+"/invocation/{id}/response", in.handleResponse)
	mux.HandleFunc("POST "+runtimeAPIPrefix+"/invocation/{id}/error", in.handleError)
	mux.HandleFunc("POST "+runtimeAPIPrefix+"/init/error", in.handleInitError)
	mux.HandleFunc("POST "+extensionAPIPrefix+"/register", in.handleRegister)
	mux.HandleFunc("GET "+extensionAPIPrefix+"/event/next", in.handleExtensionNext)
	mux.HandleFunc("POST "+extensionAPIPrefix+"/init/error", in.handleExtensionError)
	mux.HandleFunc("POST "+extensionAPIPrefix+"/exit/error", in.handleExtensionError)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Track handlers so that the exit watcher, and so Close, can wait
		// for them: none writes to Output after Close returns.
		in.e.mu.Lock()
		if !in.exited.IsZero() {
			in.e.mu.Unlock()
			writeRuntimeError(w, http.StatusInternalServerError, "Runtime.Stopped", "the execution environment has stopped")
			return
		}
		in.handlers.Add(1)
		in.e.mu.Unlock()
		defer in.handlers.Done()
		mux.ServeHTTP(w, r)
	})
}

// writeRuntimeError writes a Runtime API error response.
func writeRuntimeError(w http.ResponseWriter, status int, errType, msg string) {
	writeJSON(w, status, map[string]string{"errorMessage": msg, "errorType": errType})
}

// writeAccepted writes the Runtime API's 202 answer to /response and /error.
func writeAccepted(w http.ResponseWriter) {
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "OK"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// handleNext is GET /runtime/invocation/next: it completes the instance's
// previous invocation, freezes the instance if asked to and no invocation is
// waiting, and returns the next event.
func (in *instance) handleNext(w http.ResponseWriter, r *http.Request) {
	e := in.e
	e.mu.Lock()
	if in.firstNext.IsZero() {
		in.firstNext = time.Now()
	}
	var unanswered *invocation
	if cur := in.cur; cur != nil && !cur.dispatched.IsZero() {
		if !cur.done {
			unanswered = cur
		}
		in.cur = nil
	}
	in.waiting = true
	e.broadcastLocked()
	e.mu.Unlock()
	if unanswered != nil {
		e.logf(in, "RequestId: %s Error: the runtime asked for the next event without reporting on this one", unanswered.id)
		e.end(unanswered, OutcomeError, nil)
	}

	var inv *invocation
	e.mu.Lock()
	select {
	case inv = <-in.assign:
	default:
		// The runtime is blocked here with no work: freeze it, as Lambda
		// freezes an idle execution environment. acquire sends on
		// in.assign under e.mu, so no invocation can slip in between the
		// check above and SIGSTOP.
		if e.opts.Freeze && !in.killed && !in.termClosed && in.exited.IsZero() {
			in.signalLocked(syscall.SIGSTOP)
			in.frozen = true
			in.freezes++
		}
	}
	e.mu.Unlock()
	if inv == nil {
		select {
		case inv = <-in.assign:
		case <-in.stop:
		case <-r.Context().Done():
		}
	}
	e.mu.Lock()
	in.waiting = false
	if in.frozen {
		in.signalLocked(syscall.SIGCONT)
		in.frozen = false
	}
	if inv == nil || inv.done {
		e.mu.Unlock()
		// Killed or exiting: the process will not read this.
		writeRuntimeError(w, http.StatusInternalServerError, "Runtime.Stopped", "the execution environment is shutting down")
		return
	}
	inv.dispatched = time.Now()
	e.mu.Unlock()

	e.logf(in, "START RequestId: %s Version: $LATEST", inv.id)
	h := w.Header()
	h.Set(headerRequestID, inv.id)
	h.Set(headerDeadlineMs, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set(headerFunctionARN, e.arn)
	h.Set(headerTraceID, inv.traceHeader)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(inv.event)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.event)
}

// current returns the invocation id if it is the instance's dispatched,
// unfinished invocation that no other call is answering, and marks it as
// being answered.
func (in *instance) current(w http.ResponseWriter, id string) *invocation {
	e := in.e
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := in.cur
	if cur == nil || cur.id != id || cur.dispatched.IsZero() {
		writeRuntimeError(w, http.StatusBadRequest, errTypeInvalidRequestID, "Invalid request ID: "+id)
		return nil
	}
	if cur.done || cur.answering {
		writeRuntimeError(w, http.StatusForbidden, errTypeInvalidState, "Invocation "+id+" has already been answered or has ended")
		return nil
	}
	cur.answering = true
	return cur
}

// handleResponse is POST /runtime/invocation/{id}/response.
func (in *instance) handleResponse(w http.ResponseWriter, r *http.Request) {
	inv := in.current(w, r.PathValue("id"))
	if inv == nil {
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if in.e.opts.Mode == Streaming && mt == streamingContentType {
		in.streamResponse(w, r, inv)
		return
	}
	in.bufferedResponse(w, r, inv)
}

// bufferedResponse reads a whole response and hands it to the front end.
func (in *instance) bufferedResponse(w http.ResponseWriter, r *http.Request, inv *invocation) {
	e := in.e
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxResponsePayload+1))
	if err != nil {
		e.logf(in, "RequestId: %s Error: reading the response: %v", inv.id, err)
		e.end(inv, OutcomeCrash, nil)
		return
	}
	if len(data) > MaxResponsePayload {
		msg := fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxResponsePayload)
		e.logf(in, "RequestId: %s Error: %s", inv.id, msg)
		e.end(inv, OutcomeError, nil)
		writeRuntimeError(w, http.StatusRequestEntityTooLarge, errTypeTooLarge, msg)
		return
	}
	if in.errorTrailer(r, inv) {
		writeAccepted(w)
		return
	}
	res, err := parseBufferedResponse(data)
	if err != nil {
		e.logf(in, "RequestId: %s Error: %s: %v", inv.id, errTypeInvalidResponse, err)
		e.end(inv, OutcomeError, nil)
		writeAccepted(w)
		return
	}
	e.end(inv, OutcomeSuccess, res)
	writeAccepted(w)
}

// streamResponse reads a streamed response (prelude, 8 NULs, body) and
// passes the prelude and each body chunk to the front end as it arrives.
func (in *instance) streamResponse(w http.ResponseWriter, r *http.Request, inv *invocation) {
	e := in.e
	br := bufio.NewReaderSize(r.Body, streamChunk)
	raw, err := readPrelude(br)
	if err != nil {
		if errors.Is(err, io.EOF) && in.errorTrailer(r, inv) {
			writeAccepted(w)
			return
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, errPreludeTooLong) {
			e.logf(in, "RequestId: %s Error: response stream broken: %v", inv.id, err)
			e.end(inv, OutcomeCrash, nil)
			return
		}
		e.logf(in, "RequestId: %s Error: %s: streamed response prelude: %v", inv.id, errTypeInvalidResponse, err)
		e.end(inv, OutcomeError, nil)
		writeAccepted(w)
		return
	}
	head, err := parsePrelude(raw)
	if err != nil {
		e.logf(in, "RequestId: %s Error: %s: %v", inv.id, errTypeInvalidResponse, err)
		e.end(inv, OutcomeError, nil)
		writeAccepted(w)
		return
	}
	if !inv.send(frame{head: head}) {
		writeAccepted(w)
		return
	}
	buf := make([]byte, streamChunk)
	for {
		n, err := br.Read(buf)
		if n > 0 && !inv.send(frame{data: bytes.Clone(buf[:n])}) {
			writeAccepted(w)
			return
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			e.logf(in, "RequestId: %s Error: response stream broken: %v", inv.id, err)
			e.end(inv, OutcomeCrash, nil)
			return
		}
	}
	if in.errorTrailer(r, inv) {
		writeAccepted(w)
		return
	}
	e.end(inv, OutcomeSuccess, nil)
	writeAccepted(w)
}

// errorTrailer ends inv with a function error if the response body (read to
// EOF) ended with the Lambda-Runtime-Function-Error-Type trailer.
func (in *instance) errorTrailer(r *http.Request, inv *invocation) bool {
	errType := r.Trailer.Get(trailerErrorType)
	if errType == "" {
		return false
	}
	body := r.Trailer.Get(trailerErrorBody)
	if dec, err := base64.StdEncoding.DecodeString(body); err == nil {
		body = string(dec)
	}
	in.e.logf(in, "RequestId: %s Error: response ended with function error %s: %s", inv.id, errType, body)
	in.e.end(inv, OutcomeError, nil)
	return true
}

// errPreludeTooLong is readPrelude's error for a prelude over maxPrelude.
var errPreludeTooLong = fmt.Errorf("prelude longer than %d bytes", maxPrelude)

// readPrelude reads up to and including the 8 NUL bytes that end a streamed
// response's prelude and returns the prelude without them.
func readPrelude(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			if err == io.EOF {
				return nil, fmt.Errorf("no 8-NUL delimiter after %d bytes: %w", len(buf), io.EOF)
			}
			return nil, err
		}
		buf = append(buf, b)
		if len(buf) >= preludeDelimiterLen && b == 0 &&
			bytes.Count(buf[len(buf)-preludeDelimiterLen:], []byte{0}) == preludeDelimiterLen {
			return buf[:len(buf)-preludeDelimiterLen], nil
		}
		if len(buf) > maxPrelude {
			return nil, errPreludeTooLong
		}
	}
}

// A responseHead is a response's status, headers and cookies.
type responseHead struct {
	status  int
	headers map[string]string
	cookies []string
}

// parsePrelude parses a streamed response's JSON prelude.
func parsePrelude(raw []byte) (*responseHead, error) {
	var p struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Cookies    []string          `json:"cookies"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("streamed response prelude: %w", err)
	}
	if p.StatusCode == 0 {
		p.StatusCode = http.StatusOK
	}
	if p.StatusCode < 100 || p.StatusCode > 599 {
		return nil, fmt.Errorf("streamed response prelude: invalid statusCode %d", p.StatusCode)
	}
	return &responseHead{status: p.StatusCode, headers: p.Headers, cookies: p.Cookies}, nil
}

// A bufferedResponse is a complete response for the client.
type bufferedResponse struct {
	responseHead
	body []byte
}

// parseBufferedResponse interprets a buffered payload the way function URLs
// do: a JSON object with a statusCode member is an
// events.LambdaFunctionURLResponse; anything else is the body of a 200
// application/json response.
func parseBufferedResponse(data []byte) (*bufferedResponse, error) {
	var probe map[string]json.RawMessage
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' &&
		json.Unmarshal(trimmed, &probe) == nil && probe["statusCode"] != nil {
		var resp struct {
			StatusCode      int               `json:"statusCode"`
			Headers         map[string]string `json:"headers"`
			Body            string            `json:"body"`
			IsBase64Encoded bool              `json:"isBase64Encoded"`
			Cookies         []string          `json:"cookies"`
		}
		if err := json.Unmarshal(trimmed, &resp); err != nil {
			return nil, err
		}
		if resp.StatusCode < 100 || resp.StatusCode > 599 {
			return nil, fmt.Errorf("invalid statusCode %d", resp.StatusCode)
		}
		body := []byte(resp.Body)
		if resp.IsBase64Encoded {
			dec, err := base64.StdEncoding.DecodeString(resp.Body)
			if err != nil {
				return nil, fmt.Errorf("body: %w", err)
			}
			body = dec
		}
		return &bufferedResponse{
			responseHead: responseHead{status: resp.StatusCode, headers: resp.Headers, cookies: resp.Cookies},
			body:         body,
		}, nil
	}
	return &bufferedResponse{
		responseHead: responseHead{status: http.StatusOK, headers: map[string]string{"Content-Type": "application/json"}},
		body:         data,
	}, nil
}

// handleError is POST /runtime/invocation/{id}/error.
func (in *instance) handleError(w http.ResponseWriter, r *http.Request) {
	inv := in.current(w, r.PathValue("id"))
	if inv == nil {
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxErrorBody))
	errType := errorType(r.Header.Get(headerErrorType), body, "Unhandled")
	in.e.logf(in, "RequestId: %s Error: function error %s: %s", inv.id, errType, bytes.TrimSpace(body))
	in.e.end(inv, OutcomeError, nil)
	writeAccepted(w)
}

// errorType returns an error report's type: the
// Lambda-Runtime-Function-Error-Type header, else the errorType member of
// the JSON body (aws-lambda-go sends only that), else def.
func errorType(header string, body []byte, def string) string {
	if header != "" {
		return header
	}
	var v struct {
		ErrorType string `json:"errorType"`
	}
	if json.Unmarshal(body, &v) == nil && v.ErrorType != "" {
		return v.ErrorType
	}
	return def
}

// handleInitError is POST /runtime/init/error: the invocation waiting for
// this instance fails and the instance is killed.
func (in *instance) handleInitError(w http.ResponseWriter, r *http.Request) {
	e := in.e
	e.mu.Lock()
	if !in.firstNext.IsZero() {
		e.mu.Unlock()
		writeRuntimeError(w, http.StatusForbidden, errTypeInvalidState, "init/error after /next")
		return
	}
	cur := in.cur
	e.mu.Unlock()
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxErrorBody))
	errType := errorType(r.Header.Get(headerErrorType), body, "Runtime.Unknown")
	e.logf(in, "INIT_REPORT Error: %s: %s", errType, bytes.TrimSpace(body))
	writeAccepted(w)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if cur != nil {
		e.end(cur, OutcomeCrash, nil)
	}
	e.mu.Lock()
	in.killLocked()
	e.mu.Unlock()
}

// handleRegister is POST /extension/register. Registration only matters
// for shutdown: an instance with a registered extension gets SIGTERM and a
// grace period at Close instead of SIGKILL.
func (in *instance) handleRegister(w http.ResponseWriter, r *http.Request) {
	name := r.Header.Get(headerExtensionName)
	if name == "" {
		writeRuntimeError(w, http.StatusBadRequest, "InvalidRequest", "missing "+headerExtensionName)
		return
	}
	var req struct {
		Events []string `json:"events"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxErrorBody)).Decode(&req); err != nil && err != io.EOF {
		writeRuntimeError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	x := extension{id: newRequestID(), name: name, events: req.Events}
	e := in.e
	e.mu.Lock()
	in.extensions = append(in.extensions, x)
	e.mu.Unlock()
	e.logf(in, "EXTENSION Name: %s State: Registered Events: [%s]", name, strings.Join(req.Events, ","))
	w.Header().Set(headerExtensionID, x.id)
	writeJSON(w, http.StatusOK, map[string]string{
		"functionName":    e.opts.FunctionName,
		"functionVersion": "$LATEST",
		"handler":         "bootstrap",
	})
}

// handleExtensionNext is GET /extension/event/next. It blocks; an extension
// registered for SHUTDOWN gets the SHUTDOWN event when Close begins a
// graceful shutdown. INVOKE events are not emitted.
func (in *instance) handleExtensionNext(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(headerExtensionID)
	e := in.e
	e.mu.Lock()
	i := slices.IndexFunc(in.extensions, func(x extension) bool { return x.id == id })
	var x extension
	if i >= 0 {
		x = in.extensions[i]
	}
	e.mu.Unlock()
	if i < 0 {
		writeRuntimeError(w, http.StatusForbidden, errTypeExtensionNotFound, "unknown extension identifier")
		return
	}
	term := in.term
	if !slices.Contains(x.events, "SHUTDOWN") {
		term = nil
	}
	select {
	case <-term:
		writeJSON(w, http.StatusOK, map[string]any{
			"eventType":      "SHUTDOWN",
			"shutdownReason": "spindown",
			"deadlineMs":     time.Now().Add(shutdownGrace).UnixMilli(),
		})
	case <-in.stop:
	case <-r.Context().Done():
	}
}

// handleExtensionError is POST /extension/init/error and /exit/error.
func (in *instance) handleExtensionError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxErrorBody))
	in.e.logf(in, "EXTENSION Error: %s %s: %s", r.URL.Path, r.Header.Get(headerErrorType), bytes.TrimSpace(body))
	writeAccepted(w)
}
