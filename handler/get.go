package handler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mcpfleet/mcpfleet/state"
)

// Timing of GET streams.
const (
	getPoll        = 10 * time.Second // safety re-read and session check while idle
	resumeWait     = 5 * time.Second  // how long a resumed stream waits for its first event
	getReadBatch   = 200
	maxStoreErrors = 3
	maxPoll        = 30 * time.Second // a GET through a writer that cannot flush
)

// serveGET serves the session's standalone SSE stream ([Listening for
// Messages from the Server]) or resumes a stream after Last-Event-ID
// ([Resumability and Redelivery]), on any instance: events come from the
// session's log in the store, and new ones are read as the store's watch
// signals them.
//
// Event IDs are "<stream>_<position>": a request stream's ID and the event's
// index in it, or "" and the store's event ID for the standalone stream.
//
// [Listening for Messages from the Server]: https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#listening-for-messages-from-the-server
// [Resumability and Redelivery]: https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#resumability-and-redelivery
func (h *Handler) serveGET(w http.ResponseWriter, r *http.Request) {
	if _, sseOK := acceptsJSONAndSSE(r.Header.Values("Accept")); !sseOK {
		http.Error(w, "Bad Request: GET requires Accept: text/event-stream", http.StatusBadRequest)
		return
	}
	sid := r.Header.Get(headerSessionID)
	if sid == "" {
		http.Error(w, "Bad Request: GET requires an Mcp-Session-Id header", http.StatusBadRequest)
		return
	}
	var (
		streamID string
		cursor   string // store event ID to read after
		afterIdx int64  = -1
		resume   bool
	)
	if vals := r.Header.Values(headerLastEventID); len(vals) > 0 {
		var ok bool
		streamID, cursor, afterIdx, ok = parseEventID(vals[0])
		if !ok {
			http.Error(w, fmt.Sprintf("Bad Request: malformed Last-Event-ID %q", vals[0]), http.StatusBadRequest)
			return
		}
		resume = true
	}
	if h.loadSession(w, r, sid) == nil {
		return
	}
	watch, stop := h.store.Watch(sid)
	defer stop()
	if !resume {
		ctx, cancel := h.storeContext(r.Context())
		last, err := h.store.LastEventID(ctx, sid)
		cancel()
		if err != nil {
			h.storeError(w, "last event", err)
			return
		}
		cursor = last
	}

	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache, no-transform")
	hdr.Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	// A comment makes proxies forward the headers now (HTTP/2 buffering).
	if _, err := w.Write([]byte(": ok\n\n")); err != nil {
		return
	}
	_ = rc.Flush()
	defer h.metrics.StreamOpened(r.Context())()
	// Events written from the store: a resumed stream replays them; a
	// standalone stream forwards what any instance stored for the session.
	kind := deliveryNotificationForwarded
	if resume {
		kind = deliveryEventReplayed
	}

	// The stream ends early, with the retry hint, so that the client
	// resumes with Last-Event-ID: DeadlineMargin before the request's
	// deadline (the platform's limit, e.g. Lambda's invocation deadline);
	// and, through a writer that cannot flush (a buffering front end), as
	// a long poll: once events were written, or after maxPoll.
	polling := !canFlush(w)
	var endAt time.Time
	if d, ok := r.Context().Deadline(); ok {
		endAt = d.Add(-h.opts.DeadlineMargin)
	}
	switch {
	case polling && !resume:
		// A first GET answers at once, with the ID to poll from: clients
		// wait for the standalone stream's response before going on.
		endAt = time.Now()
	case polling && (endAt.IsZero() || time.Until(endAt) > maxPoll):
		endAt = time.Now().Add(maxPoll)
	}
	var endTimer <-chan time.Time
	if !endAt.IsZero() {
		t := time.NewTimer(time.Until(endAt))
		defer t.Stop()
		endTimer = t.C
	}

	requestStream := streamID != ""
	lastIdx := afterIdx
	// closeID is the ID of the event that ends the stream early: where a
	// resuming client starts. A suffix makes it differ from the last one,
	// so the client sees progress even when no event came (go-sdk's client
	// gives a session up after a few reconnections without progress).
	closeID := func() string {
		suffix := "." + strconv.FormatInt(time.Now().UnixMilli(), 36)
		if requestStream {
			return eventID(streamID, lastIdx) + suffix
		}
		if cursor == "" {
			return "_0-0" + suffix // from the start of the log
		}
		return "_" + cursor + suffix
	}
	start := time.Now()
	seen := false
	storeErrors := 0
	poll := time.NewTicker(getPoll)
	defer poll.Stop()
	for {
		ctx, cancel := h.storeContext(r.Context())
		evs, err := h.store.ReadEvents(ctx, sid, cursor, getReadBatch)
		cancel()
		if err != nil {
			storeErrors++
			h.log.Warn("reading session events", "session", sid, "error", err)
			if storeErrors >= maxStoreErrors || !errors.Is(err, state.ErrUnavailable) {
				h.endStream(w, rc, closeID())
				return
			}
		} else {
			storeErrors = 0
		}
		written, end := 0, false
		for _, ev := range evs {
			cursor = ev.ID
			if ev.Stream != streamID {
				continue
			}
			seen = true
			if requestStream && ev.Index <= afterIdx {
				continue
			}
			if len(ev.Data) > 0 {
				id := "_" + ev.ID
				if requestStream {
					id = eventID(ev.Stream, ev.Index)
				}
				if err := writeSSE(w, rc, "message", id, "", ev.Data); err != nil {
					end = true // the client is gone
					break
				}
				written++
				lastIdx = ev.Index
			}
			if requestStream && ev.Final {
				end = true // the request's stream is complete
				break
			}
		}
		if written > 0 {
			h.metrics.Delivered(r.Context(), kind, written)
		}
		if end {
			return
		}
		if len(evs) == getReadBatch {
			continue
		}
		if polling && written > 0 {
			h.endStream(w, rc, closeID())
			return
		}
		if requestStream && !seen && time.Since(start) > resumeWait {
			// Nothing of that stream is stored: it completed while attached,
			// or was never ours. End rather than hang.
			return
		}
		var wait <-chan time.Time
		if requestStream && !seen {
			wait = time.After(resumeWait / 10)
		}
		select {
		case <-r.Context().Done():
			return
		case <-h.draining:
			h.endStream(w, rc, closeID())
			return
		case <-endTimer:
			h.endStream(w, rc, closeID())
			return
		case <-watch:
			if len(evs) == 0 && !h.sessionExists(r.Context(), sid) {
				return
			}
		case <-poll.C:
			if !h.sessionExists(r.Context(), sid) {
				return
			}
		case <-wait:
		}
	}
}

// endStream ends an SSE stream with a retry hint, so the client reconnects
// (possibly to another instance) and resumes.
func (h *Handler) endStream(w http.ResponseWriter, rc *http.ResponseController, id string) {
	_ = writeSSE(w, rc, "close", id, strconv.FormatInt(h.opts.StreamRetry.Milliseconds(), 10), nil)
}

// sessionExists checks (and keeps alive) a session held by a GET stream.
// An unreachable store counts as existing: the stream goes on.
func (h *Handler) sessionExists(ctx context.Context, sid string) bool {
	sctx, cancel := h.storeContext(ctx)
	defer cancel()
	_, err := h.store.LoadSession(sctx, sid, h.opts.SessionTTL)
	return !errors.Is(err, state.ErrNotFound)
}

// parseEventID splits a Last-Event-ID: "<stream>_<index>" for a request
// stream, "_<store event ID>" for the standalone stream.
//
// A "." and a suffix after the position (IDs of events that end a stream
// early) are ignored.
func parseEventID(id string) (streamID, cursor string, idx int64, ok bool) {
	streamID, pos, found := strings.Cut(id, "_")
	pos, _, _ = strings.Cut(pos, ".")
	if !found || pos == "" || len(id) > 256 {
		return "", "", 0, false
	}
	if streamID == "" {
		ms, seq, found := strings.Cut(pos, "-")
		if !found {
			return "", "", 0, false
		}
		if _, err := strconv.ParseUint(ms, 10, 64); err != nil {
			return "", "", 0, false
		}
		if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
			return "", "", 0, false
		}
		return "", pos, -1, true
	}
	if !validSessionID(streamID) {
		return "", "", 0, false
	}
	n, err := strconv.ParseInt(pos, 10, 64)
	if err != nil || n < 0 {
		return "", "", 0, false
	}
	return streamID, "", n, true
}
