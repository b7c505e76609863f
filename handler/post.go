package handler

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/mcpfleet/mcpfleet/state"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// newID returns an unguessable identifier: 128 bits from crypto/rand,
// base32 (26 visible ASCII characters, as the spec requires of session IDs).
func newID() string { return rand.Text() }

// validSessionID bounds what is accepted as a session ID before it is used
// in a store key.
func validSessionID(sid string) bool {
	if len(sid) < 16 || len(sid) > 128 {
		return false
	}
	for i := 0; i < len(sid); i++ {
		c := sid[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// loadSession loads a legacy session and checks the caller's identity. On
// failure it writes the answer (404: re-initialize; 403: another identity;
// 503: store unreachable) and returns nil.
func (h *Handler) loadSession(w http.ResponseWriter, r *http.Request, sid string) *sessionRecord {
	if !validSessionID(sid) {
		http.Error(w, "Not Found: unknown session", http.StatusNotFound)
		return nil
	}
	data := h.cache.get(sid)
	if data != nil {
		// Invalidations already received go first.
		h.drainBus()
		data = h.cache.get(sid)
	}
	if data == nil {
		gen := h.cache.generation()
		ctx, cancel := h.storeContext(r.Context())
		defer cancel()
		var err error
		data, err = h.store.LoadSession(ctx, sid, h.opts.SessionTTL)
		if errors.Is(err, state.ErrNotFound) {
			http.Error(w, "Not Found: session expired or terminated; initialize a new session", http.StatusNotFound)
			return nil
		}
		if err != nil {
			h.storeError(w, "load session", err)
			return nil
		}
		h.cache.put(sid, data, gen)
	}
	rec, err := decodeRecord(data)
	if err != nil {
		h.log.Error("unreadable session record", "session", sid, "error", err)
		http.Error(w, "Not Found: session unreadable; initialize a new session", http.StatusNotFound)
		return nil
	}
	if rec.UserID != "" && rec.UserID != userIDFrom(r.Context()) {
		http.Error(w, "Forbidden: session belongs to another identity", http.StatusForbidden)
		return nil
	}
	return rec
}

// servePOST serves a POST: a 2026-07-28 request without session goes to the
// sessionless handler; everything else is a legacy session message
// ([Sending Messages to the Server]).
//
// [Sending Messages to the Server]: https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#sending-messages-to-the-server
func (h *Handler) servePOST(w http.ResponseWriter, r *http.Request) {
	if !isJSONContentType(r.Header.Get("Content-Type")) {
		http.Error(w, "Unsupported Media Type: Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("Request Entity Too Large: body exceeds %d bytes", mbe.Limit), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "Bad Request: failed to read body", http.StatusBadRequest)
		return
	}
	msgs, batch, status, err := decodeMessages(body)
	sid := r.Header.Get(headerSessionID)
	if err == nil && sid == "" && isSessionless(msgs) {
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.serveSessionless(w, r)
		return
	}
	if err != nil {
		http.Error(w, "Bad Request: "+err.Error(), status)
		return
	}
	if jsonOK, sseOK := acceptsJSONAndSSE(r.Header.Values("Accept")); !jsonOK || !sseOK {
		http.Error(w, "Bad Request: Accept must list both application/json and text/event-stream", http.StatusBadRequest)
		return
	}
	version := r.Header.Get(headerProtocolVersion)
	if batch && version >= version20250618 {
		http.Error(w, fmt.Sprintf("Bad Request: JSON-RPC batches are not supported in protocol version %s", version), http.StatusBadRequest)
		return
	}

	var (
		requests  []*jsonrpc.Request // calls and notifications for the session
		responses []*jsonrpc.Response
		cancels   []*jsonrpc.Request
		calls     = make(map[string]bool)
		init      *jsonrpc.Request
	)
	for _, m := range msgs {
		switch m := m.(type) {
		case *jsonrpc.Response:
			responses = append(responses, m)
		case *jsonrpc.Request:
			switch {
			case m.Method == "notifications/cancelled":
				cancels = append(cancels, m)
				continue
			case m.Method == "initialize":
				init = m
			}
			if m.IsCall() {
				k := idKey(m.ID)
				if calls[k] {
					http.Error(w, "Bad Request: duplicate request ID "+k, http.StatusBadRequest)
					return
				}
				calls[k] = true
			}
			requests = append(requests, m)
		}
	}

	var rec *sessionRecord
	if init != nil {
		if sid != "" {
			http.Error(w, "Bad Request: initialize must not carry an Mcp-Session-Id; the session is already initialized", http.StatusBadRequest)
			return
		}
		if len(msgs) != 1 || !init.IsCall() {
			http.Error(w, "Bad Request: initialize must be sent alone, as a request", http.StatusBadRequest)
			return
		}
		sid = newID()
		rec = &sessionRecord{V: recordVersion, UserID: userIDFrom(r.Context()), Created: time.Now().UTC().Truncate(time.Millisecond)}
		var p mcp.InitializeParams
		if json.Unmarshal(init.Params, &p) == nil {
			version = negotiate(p.ProtocolVersion)
		}
	} else {
		if sid == "" {
			http.Error(w, "Bad Request: Mcp-Session-Id header is required; send initialize first", http.StatusBadRequest)
			return
		}
		if rec = h.loadSession(w, r, sid); rec == nil {
			return
		}
		if version == "" {
			version = rec.State.NegotiatedProtocolVersion
		}
	}

	for _, resp := range responses {
		h.routeResponse(r.Context(), sid, resp)
	}
	for _, c := range cancels {
		h.broadcastCancel(r.Context(), sid, c)
	}
	if len(requests) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return
	}

	// Work is bounded by RequestTimeout and by the request's own deadline,
	// when a platform adapter set one (AWS Lambda's invocation deadline):
	// it ends DeadlineMargin before it, so the answer still gets out.
	timeout, cause := h.workTimeout(r)
	if timeout <= 0 {
		h.unavailable(w, "Service Unavailable: no time left to handle the request before the platform's deadline")
		return
	}

	c := h.newConn(sid, rec, version, len(requests))
	extra := &mcp.RequestExtra{TokenInfo: auth.TokenInfoFromContext(r.Context()), Header: r.Header}
	if len(calls) > 0 {
		for k := range calls {
			c.calls = append(c.calls, k)
		}
		c.st = &stream{
			c:           c,
			id:          newID(),
			w:           w,
			rc:          http.NewResponseController(w),
			initialize:  init != nil,
			prime:       version >= version20251125,
			attached:    true,
			pending:     calls,
			json:        !canFlush(w),
			batch:       batch,
			done:        make(chan struct{}),
			detached:    make(chan struct{}),
			maxKeptSize: int(h.opts.EventLogLength),
		}
		if init != nil {
			w.Header().Set(headerSessionID, sid)
		}
		st := c.st
		extra.CloseSSEStream = func(args mcp.CloseSSEStreamArgs) {
			if c.version >= version20260728 {
				return
			}
			st.detach(args.RetryAfter)
		}
	}
	for _, m := range requests {
		m.Extra = extra
	}

	// The session's goroutines outlive this HTTP request when the client
	// detaches; they run under the request's values, not its cancellation,
	// bounded by RequestTimeout.
	ctx := context.WithValue(context.WithoutCancel(r.Context()), connKey{}, c)
	ss, err := h.server.Connect(ctx, c, &mcp.ServerSessionOptions{State: restoredState(rec)})
	if err != nil {
		h.log.Error("connecting session", "session", sid, "error", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	h.track(c, true)
	for _, m := range requests {
		c.inject(m)
	}

	if c.st == nil {
		// Notifications only: answer 202 once they were handled, so that a
		// request that follows on another instance sees their effect.
		c.endInput()
		h.finish(c, ss, timeout)
		if err := c.storeFailure(); err != nil {
			h.storeError(w, "persist notification", err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}

	st := c.st
	// The SSE stream is this instance's until the HTTP response is released.
	defer h.metrics.StreamOpened(r.Context())()
	if init == nil {
		st.mu.Lock()
		st.startLocked()
		st.mu.Unlock()
	}
	h.bgStart()
	go func() {
		defer h.bgEnd()
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		select {
		case <-st.done:
		case <-timer.C:
			h.log.Warn("request ran out of time; cancelling", "session", sid, "timeout", timeout.Round(time.Millisecond).String(), "cause", cause)
			// Answer the calls with an error and cancel the handlers
			// (their context ends). A resumable stream (event IDs, 2025-11-25)
			// ends first with the retry hint and the answers go to the
			// store: the client resumes with Last-Event-ID, on another
			// instance or invocation; others get the answers inline.
			if st.resumable() {
				st.detach(h.opts.StreamRetry)
			}
			// Answer first: a handler that returns at once when cancelled
			// must not answer with a bare "context canceled".
			st.failPending(codeRequestTimeout, "request cancelled: "+cause)
			c.cancelCalls(cause)
		}
		h.finish(c, ss, 5*time.Second)
	}()
	select {
	case <-st.done:
		st.detach(0)
	case <-st.detached:
	case <-r.Context().Done():
		st.detach(0)
	case <-h.abandon:
		st.detach(h.opts.StreamRetry)
	}
}

// codeRequestTimeout is the JSON-RPC error code of a call cancelled because
// it ran out of time (the TypeScript SDK's RequestTimeout).
const codeRequestTimeout = -32001

// workTimeout returns how long a request's work may run: RequestTimeout, or
// less when the request's context has a deadline (set by a platform
// adapter), which it then ends DeadlineMargin before. cause says which.
func (h *Handler) workTimeout(r *http.Request) (time.Duration, string) {
	timeout := h.opts.RequestTimeout
	cause := fmt.Sprintf("it exceeded the request timeout (%s)", timeout)
	if d, ok := r.Context().Deadline(); ok {
		if left := time.Until(d) - h.opts.DeadlineMargin; left < timeout {
			timeout = left
			cause = "the platform's deadline for this request (e.g. the function timeout) is near; retry it"
		}
	}
	return timeout, cause
}

// unavailable answers 503 with the Retry-After hint.
func (h *Handler) unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int((h.opts.RetryAfter+time.Second-1)/time.Second)))
	http.Error(w, msg, http.StatusServiceUnavailable)
}

// finish closes an ephemeral session, waiting at most wait for its handlers.
func (h *Handler) finish(c *conn, ss *mcp.ServerSession, wait time.Duration) {
	done := make(chan struct{})
	go func() {
		if c.st == nil {
			_ = ss.Wait()
		}
		_ = ss.Close()
		close(done)
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		_ = c.Close()
		h.log.Warn("session handlers still running after close", "session", c.sid)
	}
	h.track(c, false)
}

// track registers or unregisters a live connection, for routing responses
// and cancellations to it.
func (h *Handler) track(c *conn, add bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if add {
		h.conns[c.nonce] = c
	} else {
		delete(h.conns, c.nonce)
	}
	for _, k := range c.calls {
		key := runKey{sid: c.sid, id: k}
		if add {
			h.running[key] = c
		} else if h.running[key] == c {
			delete(h.running, key)
		}
	}
}

// restoredState rebuilds go-sdk's session state from the record. A new
// session (initialize) starts empty.
func restoredState(rec *sessionRecord) *mcp.ServerSessionState {
	if rec.State.InitializeParams == nil {
		return nil
	}
	st := rec.State
	return &st
}

// negotiate returns the legacy version a server answers to an initialize
// requesting v.
func negotiate(v string) string {
	if isLegacyVersion(v) {
		return v
	}
	return version20251125
}

// decodeMessages decodes a POST body: one JSON-RPC message or a batch.
func decodeMessages(body []byte) (msgs []jsonrpc.Message, batch bool, status int, err error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, false, http.StatusBadRequest, errors.New("POST requires a non-empty body")
	}
	if trimmed[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, true, http.StatusBadRequest, fmt.Errorf("malformed JSON-RPC batch: %v", err)
		}
		if len(raws) == 0 {
			return nil, true, http.StatusBadRequest, errors.New("empty JSON-RPC batch")
		}
		for _, raw := range raws {
			msg, err := jsonrpc.DecodeMessage(raw)
			if err != nil {
				return nil, true, http.StatusBadRequest, fmt.Errorf("malformed JSON-RPC message: %v", err)
			}
			msgs = append(msgs, msg)
		}
		return msgs, true, 0, nil
	}
	msg, err := jsonrpc.DecodeMessage(body)
	if err != nil {
		return nil, false, http.StatusBadRequest, fmt.Errorf("malformed JSON-RPC message: %v", err)
	}
	return []jsonrpc.Message{msg}, false, 0, nil
}

// serveDELETE ends a session everywhere ([Session Management] §5): the
// record and event log are removed, running requests on every instance are
// cancelled and open GET streams end. Later requests get 404.
//
// [Session Management]: https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#session-management
func (h *Handler) serveDELETE(w http.ResponseWriter, r *http.Request) {
	sid := r.Header.Get(headerSessionID)
	if sid == "" {
		http.Error(w, "Bad Request: DELETE requires an Mcp-Session-Id header", http.StatusBadRequest)
		return
	}
	rec := h.loadSession(w, r, sid)
	if rec == nil {
		return
	}
	h.cache.drop(sid)
	ctx, cancel := h.storeContext(r.Context())
	defer cancel()
	existed, err := h.store.DeleteSession(ctx, sid)
	if err != nil {
		h.storeError(w, "delete session", err)
		return
	}
	if existed && !rec.Created.IsZero() {
		// Reported once, by the instance whose DELETE removed the record.
		h.metrics.SessionEnded(ctx, time.Since(rec.Created), rec.State.NegotiatedProtocolVersion, "")
	}
	for _, uri := range rec.Subscriptions {
		if err := h.store.RemoveResourceSubscriber(ctx, uri, sid); err != nil {
			h.log.Warn("removing subscription of deleted session", "session", sid, "uri", uri, "error", err)
		}
	}
	h.publishFenced(ctx, busMsg{Type: msgEnd, SID: sid})
	w.WriteHeader(http.StatusNoContent)
}
