package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpfleet/mcpfleet/state"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// connKey marks contexts that belong to the handling of one POST's
// messages, so that writes made in that context go to the POST's stream and
// everything else is treated as detached.
type connKey struct{}

func connFrom(ctx context.Context) *conn {
	c, _ := ctx.Value(connKey{}).(*conn)
	return c
}

// conn is an ephemeral go-sdk connection serving the messages of one POST
// of a legacy session. It implements both [mcp.Transport] and
// [mcp.Connection]. Outgoing server-to-client requests get fleet-unique IDs
// ("<instance>~<nonce>~<n>") so that the client's answer can be routed back
// here from any instance.
type conn struct {
	h       *Handler
	sid     string
	nonce   string
	version string // protocol version of the session

	incoming chan jsonrpc.Message
	eof      chan struct{} // closed: Read reports EOF once incoming is drained
	eofOnce  sync.Once
	closed   chan struct{} // closed by Close
	closeMu  sync.Once

	recMu   sync.Mutex
	rec     *sessionRecord
	created bool  // initialize persisted the session
	failure error // the store failed while persisting state (under recMu)

	st    *stream  // nil when the POST carries no calls
	calls []string // IDs (JSON) of the POST's calls, fixed at creation
}

func (h *Handler) newConn(sid string, rec *sessionRecord, version string, buffer int) *conn {
	return &conn{
		h:        h,
		sid:      sid,
		nonce:    strings.ToLower(newID()[:10]),
		version:  version,
		rec:      rec,
		incoming: make(chan jsonrpc.Message, buffer+8),
		eof:      make(chan struct{}),
		closed:   make(chan struct{}),
	}
}

// Connect implements [mcp.Transport].
func (c *conn) Connect(context.Context) (mcp.Connection, error) { return c, nil }

// SupportsProtocolVersion implements [mcp.ProtocolVersionSupporter]: the
// session path serves only the session-based versions.
func (c *conn) SupportsProtocolVersion(v string) bool { return isLegacyVersion(v) }

// SessionID implements [mcp.Connection].
func (c *conn) SessionID() string { return c.sid }

// Read implements [mcp.Connection].
func (c *conn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case m := <-c.incoming:
		return m, nil
	case <-c.closed:
		return nil, io.EOF
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.eof:
		select {
		case m := <-c.incoming:
			return m, nil
		default:
			return nil, io.EOF
		}
	}
}

// inject feeds a message from elsewhere (a response relayed from another
// instance, a cancellation) into the connection. It never blocks after the
// connection closed.
func (c *conn) inject(m jsonrpc.Message) {
	select {
	case c.incoming <- m:
	case <-c.closed:
	}
}

// endInput makes Read report EOF once the queued messages are consumed.
func (c *conn) endInput() { c.eofOnce.Do(func() { close(c.eof) }) }

// Close implements [mcp.Connection].
func (c *conn) Close() error {
	c.closeMu.Do(func() { close(c.closed) })
	return nil
}

// cancelCalls cancels the handlers of the POST's calls, as the client's
// notifications/cancelled would.
func (c *conn) cancelCalls(reason string) {
	for _, k := range c.calls {
		id, ok := idFromKey(k)
		if !ok {
			continue
		}
		params, err := json.Marshal(map[string]any{"requestId": id.Raw(), "reason": reason})
		if err != nil {
			continue
		}
		select {
		case c.incoming <- &jsonrpc.Request{Method: "notifications/cancelled", Params: params}:
		default: // queue full or closed: closing the session cancels them
		}
	}
}

func (c *conn) storeFailure() error {
	c.recMu.Lock()
	defer c.recMu.Unlock()
	return c.failure
}

// Write implements [mcp.Connection]: responses go to the POST's stream;
// requests and notifications made while handling the POST's messages go to
// the POST's stream while it is open; everything else goes to the
// session's standalone stream, through the store, so that whichever
// instance holds the client's GET stream delivers it.
func (c *conn) Write(ctx context.Context, msg jsonrpc.Message) error {
	switch m := msg.(type) {
	case *jsonrpc.Response:
		data, err := jsonrpc.EncodeMessage(m)
		if err != nil {
			return err
		}
		if c.st == nil {
			return fmt.Errorf("handler: response %v without a request stream", m.ID.Raw())
		}
		return c.st.respond(m.ID, data)
	case *jsonrpc.Request:
		if m.IsCall() {
			id, err := jsonrpc.MakeID(fmt.Sprintf("%s~%s~%v", c.h.instance, c.nonce, m.ID.Raw()))
			if err != nil {
				return err
			}
			cp := *m
			cp.ID = id
			msg = &cp
		}
		data, err := jsonrpc.EncodeMessage(msg)
		if err != nil {
			return err
		}
		if connFrom(ctx) == c && c.st != nil && c.st.send(data) {
			return nil
		}
		return c.h.appendStandalone(ctx, c.sid, data)
	}
	return fmt.Errorf("handler: unexpected message type %T", msg)
}

// appendStandalone appends a message to the session's standalone stream.
func (h *Handler) appendStandalone(ctx context.Context, sid string, data []byte) error {
	sctx, cancel := h.storeContext(ctx)
	defer cancel()
	_, err := h.store.AppendEvents(sctx, sid, []state.Event{{Data: data}}, h.appendOptions())
	if err != nil {
		h.log.Warn("detached message not stored", "session", sid, "error", err)
	}
	return err
}

func (h *Handler) appendOptions() state.AppendOptions {
	return state.AppendOptions{MaxLen: h.opts.EventLogLength, TTL: h.opts.SessionTTL}
}

// stream is the SSE response of one POST that carries calls. Events are
// written to the HTTP response while the client is attached and kept in
// memory; when the client detaches before the last response (disconnect,
// server-initiated close per SEP-1699, shutdown), the kept events go to the
// store and so do all later ones, so a GET with Last-Event-ID on any
// instance resumes the stream. A stream delivered in full never touches the
// store.
//
// Written through a ResponseWriter that cannot flush (a buffering platform
// adapter: AWS Lambda function URLs in BUFFERED mode), the stream cannot
// stream: it is a JSON stream instead, answering the POST with one
// application/json body once every call was answered; requests and
// notifications made meanwhile go to the session's standalone stream.
type stream struct {
	c  *conn
	id string
	w  http.ResponseWriter
	rc *http.ResponseController

	json    bool     // answer with application/json, not SSE
	batch   bool     // the POST was a JSON-RPC batch: answer with an array
	results [][]byte // JSON mode: responses so far

	mu          sync.Mutex
	headerDone  bool
	initialize  bool // answer to initialize: hold headers until the session is stored
	prime       bool // write a priming event first (2025-11-25+, SEP-1699)
	next        int64
	kept        []state.Event
	attached    bool
	persisting  bool
	pending     map[string]bool // unanswered call IDs (JSON)
	done        chan struct{}   // closed when every call was answered
	detached    chan struct{}   // closed when the HTTP response was released
	maxKeptSize int
}

func idKey(id jsonrpc.ID) string {
	b, _ := json.Marshal(id.Raw())
	return string(b)
}

// idFromKey is the inverse of idKey.
func idFromKey(k string) (jsonrpc.ID, bool) {
	var raw any
	if json.Unmarshal([]byte(k), &raw) != nil {
		return jsonrpc.ID{}, false
	}
	id, err := jsonrpc.MakeID(raw)
	return id, err == nil
}

func eventID(streamID string, idx int64) string {
	return streamID + "_" + strconv.FormatInt(idx, 10)
}

// start writes the response header and the priming event. mu must be held.
func (s *stream) startLocked() {
	if s.headerDone || s.json {
		return
	}
	s.headerDone = true
	hdr := s.w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache, no-transform")
	hdr.Set("Connection", "keep-alive")
	s.w.WriteHeader(http.StatusOK)
	if s.prime {
		ev := state.Event{Stream: s.id, Index: s.next}
		s.next++
		s.kept = append(s.kept, ev)
		if err := writeSSE(s.w, s.rc, "prime", eventID(s.id, ev.Index), "", nil); err != nil {
			s.detachLocked(0)
		}
	} else {
		_ = s.rc.Flush()
	}
}

// send writes a request or notification related to the POST's calls. It
// reports false when the stream is complete, so the caller routes the
// message elsewhere.
func (s *stream) send(data []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 || s.json {
		return false
	}
	s.emitLocked(data, false)
	return true
}

// respond writes the response to a call.
func (s *stream) respond(id jsonrpc.ID, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := idKey(id)
	if !s.pending[k] {
		return fmt.Errorf("handler: response to unknown call %s", k)
	}
	delete(s.pending, k)
	final := len(s.pending) == 0
	if s.initialize && !s.headerDone && s.attached {
		if err := s.c.storeFailure(); err != nil {
			// The session could not be stored: answer with a retryable
			// HTTP error rather than a session ID that does not exist.
			s.headerDone = true
			s.w.Header().Del(headerSessionID)
			s.c.h.storeError(s.w, "initialize", err)
			s.finishLocked()
			return nil
		}
	}
	s.emitLocked(data, final)
	if final {
		s.finishLocked()
	}
	return nil
}

func (s *stream) finishLocked() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
}

// emitLocked writes one event. mu must be held.
func (s *stream) emitLocked(data []byte, final bool) {
	if s.json {
		s.results = append(s.results, data)
		if final && s.attached {
			s.writeJSONLocked()
		}
		return
	}
	if s.attached {
		s.startLocked() // the priming event takes the first index
	}
	ev := state.Event{Stream: s.id, Index: s.next, Data: data, Final: final}
	s.next++
	if s.attached {
		if err := writeSSE(s.w, s.rc, "message", eventID(s.id, ev.Index), "", data); err != nil {
			s.detachLocked(0)
		} else if !s.persisting {
			if len(s.kept) < s.maxKeptSize {
				s.kept = append(s.kept, ev)
			}
			return
		}
	}
	s.storeLocked([]state.Event{ev})
}

// writeJSONLocked answers a JSON-mode POST with its responses: one object,
// or an array for a batch. mu must be held.
func (s *stream) writeJSONLocked() {
	s.headerDone = true
	var body []byte
	if s.batch {
		body = append(body, '[')
		for i, r := range s.results {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, r...)
		}
		body = append(body, ']')
	} else {
		body = s.results[0]
	}
	s.w.Header().Set("Content-Type", "application/json")
	s.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	s.w.WriteHeader(http.StatusOK)
	_, _ = s.w.Write(body)
}

// resumable reports whether a client can resume the stream with
// Last-Event-ID: its events have IDs (a priming event first, 2025-11-25).
func (s *stream) resumable() bool { return s.prime && !s.json }

// failPending answers every call still pending with a JSON-RPC error, so the
// stream ends cleanly: the request ran out of time (RequestTimeout, or the
// platform's deadline) and its handler was cancelled. A response the
// handler writes later is dropped.
func (s *stream) failPending(code int64, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.pending))
	for k := range s.pending {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		id, ok := idFromKey(k)
		if !ok {
			continue
		}
		data, err := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: code, Message: msg}})
		if err != nil {
			continue
		}
		delete(s.pending, k)
		final := len(s.pending) == 0
		s.emitLocked(data, final)
		if final {
			s.finishLocked()
		}
	}
}

// storeLocked appends events of a detached stream to the session log.
func (s *stream) storeLocked(evs []state.Event) {
	h := s.c.h
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := h.store.AppendEvents(ctx, s.c.sid, evs, h.appendOptions()); err != nil {
		h.log.Warn("stream events not stored; a resuming client will miss them", "session", s.c.sid, "stream", s.id, "events", len(evs), "error", err)
	}
}

// detach releases the HTTP response: from now on events go to the store.
// A positive retry is sent as the SSE retry hint (SEP-1699 polling,
// shutdown).
func (s *stream) detach(retry time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attached && retry > 0 && len(s.pending) > 0 {
		s.startLocked()
	}
	s.detachLocked(retry)
}

func (s *stream) detachLocked(retry time.Duration) {
	if !s.attached {
		return
	}
	s.attached = false
	if s.json {
		// Nothing to resume: a JSON answer is all or nothing.
		close(s.detached)
		return
	}
	if retry > 0 && s.headerDone {
		_ = writeSSE(s.w, s.rc, "close", "", strconv.FormatInt(retry.Milliseconds(), 10), nil)
	}
	close(s.detached)
	select {
	case <-s.done:
		// Every response was written while attached: nothing to resume.
		s.kept = nil
		return
	default:
	}
	if !s.persisting {
		s.persisting = true
		if len(s.kept) > 0 {
			s.storeLocked(s.kept)
		}
		s.kept = nil
	}
}

// canFlush reports whether w can send what was written before the handler
// returns, as [http.ResponseController.Flush] finds out: FlushError, Flush,
// or an Unwrap chain leading to one. A writer that cannot flush buffers the
// whole response (a platform adapter for a buffering front end), so SSE
// cannot stream through it.
func canFlush(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case interface{ FlushError() error }, http.Flusher:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// writeSSE writes one server-sent event and flushes it. Priming ("prime")
// and close events carry no data.
func writeSSE(w http.ResponseWriter, rc *http.ResponseController, name, id, retry string, data []byte) error {
	var b strings.Builder
	b.Grow(len(data) + len(id) + 48)
	b.WriteString("event: ")
	b.WriteString(name)
	b.WriteByte('\n')
	if id != "" {
		b.WriteString("id: ")
		b.WriteString(id)
		b.WriteByte('\n')
	}
	if retry != "" {
		b.WriteString("retry: ")
		b.WriteString(retry)
		b.WriteByte('\n')
	}
	b.WriteString("data: ")
	b.Write(data)
	b.WriteString("\n\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err // a writer that cannot flush sends all at the end
	}
	return nil
}
