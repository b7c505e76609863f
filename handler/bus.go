package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mcpfleet/mcpfleet/state"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Topics between instances: one per instance (answers to its
// server-to-client requests), one for all.
const topicAll = "all"

func topicInstance(id string) string { return "i." + id }

// Message types on the bus.
const (
	msgResponse = "resp"   // a client's answer to a server-to-client request
	msgCancel   = "cancel" // notifications/cancelled for a request
	msgEnd      = "end"    // a session was deleted
	msgChanged  = "chg"    // a session record changed (Nonce: the instance that changed it)
	msgResource = "res"    // resources/updated, for sessionless listen streams
	msgUser     = "user"   // an application broadcast (Handler.Broadcast)
)

type busMsg struct {
	Type  string          `json:"t"`
	SID   string          `json:"sid,omitempty"`
	Nonce string          `json:"n,omitempty"`
	ID    string          `json:"id,omitempty"`
	Msg   json.RawMessage `json:"m,omitempty"`
	Topic string          `json:"topic,omitempty"`
}

func (h *Handler) subscribe() {
	if h.cache != nil {
		// The fence rings when the bus reconnects: invalidations may have
		// been lost.
		ring, stop := h.store.Watch(cacheFenceID)
		done := make(chan struct{})
		h.stopSubs = append(h.stopSubs, func() { stop(); close(done) })
		go func() {
			for {
				select {
				case <-done:
					return
				case <-ring:
					h.cache.flush()
				}
			}
		}()
	}
	for _, topic := range []string{topicInstance(h.instance), topicAll} {
		ch, stop := h.store.Subscribe(topic)
		done := make(chan struct{})
		h.stopSubs = append(h.stopSubs, func() { stop(); close(done) })
		if topic == topicAll && h.cache != nil {
			h.allCh = ch
			go h.fleetLoop(ch, done)
			continue
		}
		go func() {
			for {
				select {
				case <-done:
					return
				case payload, ok := <-ch:
					if !ok {
						return
					}
					h.onBus(payload)
				}
			}
		}()
	}
}

// publish sends m to the instances subscribed to topic and reports whether
// the store took it; a failure is logged.
func (h *Handler) publish(ctx context.Context, topic string, m busMsg) bool {
	payload, err := json.Marshal(m)
	if err != nil {
		h.log.Error("encoding bus message", "error", err)
		return false
	}
	sctx, cancel := h.storeContext(ctx)
	defer cancel()
	if err := h.store.Publish(sctx, topic, payload); err != nil {
		h.log.Warn("cross-instance message lost", "type", m.Type, "topic", topic, "error", err)
		return false
	}
	return true
}

// onBus handles a message from the bus.
func (h *Handler) onBus(payload []byte) {
	if m, ok := h.decodeBus(payload); ok {
		h.handleBus(m)
	}
}

func (h *Handler) decodeBus(payload []byte) (busMsg, bool) {
	var m busMsg
	if err := json.Unmarshal(payload, &m); err != nil {
		h.log.Warn("malformed bus message", "error", err)
		return m, false
	}
	return m, true
}

// handleBus acts on a decoded bus message. The session cache's
// invalidations are applied before, by invalidate (see fleetLoop).
func (h *Handler) handleBus(m busMsg) {
	ctx := context.Background()
	switch m.Type {
	case msgResponse:
		h.deliverResponse(m.SID, m.Nonce, m.ID, m.Msg)
	case msgCancel:
		h.mu.Lock()
		c := h.running[runKey{sid: m.SID, id: m.ID}]
		h.mu.Unlock()
		if c != nil {
			if req, err := jsonrpc.DecodeMessage(m.Msg); err == nil {
				c.inject(req)
			}
		}
	case msgChanged:
		h.echoed(m)
	case msgEnd:
		h.echoed(m)
		h.mu.Lock()
		var victims []*conn
		for _, c := range h.conns {
			if c.sid == m.SID {
				victims = append(victims, c)
			}
		}
		h.mu.Unlock()
		for _, c := range victims {
			_ = c.Close()
		}
	case msgResource:
		var p mcp.ResourceUpdatedNotificationParams
		if json.Unmarshal(m.Msg, &p) == nil {
			if err := h.server.ResourceUpdated(ctx, &p); err != nil {
				h.log.Warn("local resource update", "uri", p.URI, "error", err)
			}
		}
	case msgUser:
		h.mu.Lock()
		fns := h.bcastFns[m.Topic]
		h.mu.Unlock()
		for _, fn := range fns {
			fn(ctx, m.Msg)
		}
	}
}

// fleetLoop handles the fleet-wide topic when sessions are cached. It
// holds busMu while it waits for a message and while it applies the
// message's cache invalidation, so that drainBus, which takes busMu, finds
// every received invalidation either still in the channel or applied:
// never in between. The rest of the handling (which may do I/O) runs
// after busMu is released.
func (h *Handler) fleetLoop(ch <-chan []byte, done <-chan struct{}) {
	for {
		var (
			m   busMsg
			got bool
		)
		h.busMu.Lock()
		select {
		case <-done:
			h.busMu.Unlock()
			return
		case p, ok := <-ch:
			if !ok {
				h.busMu.Unlock()
				return
			}
			if m, got = h.decodeBus(p); got {
				h.invalidate(m)
			}
		case <-h.busKick:
		}
		h.busMu.Unlock()
		if got {
			h.handleBus(m)
		}
		for h.busWant.Load() > 0 { // drainers first
			runtime.Gosched()
		}
	}
}

// drainBus applies the cache invalidations among the fleet-wide messages
// already received but not yet handled, so that a cached session record is
// not used after its invalidation arrived; then it handles those messages.
func (h *Handler) drainBus() {
	h.busWant.Add(1)
	select {
	case h.busKick <- struct{}{}: // wake fleetLoop, waiting with busMu held
	default:
	}
	h.busMu.Lock()
	h.busWant.Add(-1)
	var drained []busMsg
	for more := true; more; {
		select {
		case payload, ok := <-h.allCh:
			if !ok {
				more = false
				break
			}
			if m, ok := h.decodeBus(payload); ok {
				h.invalidate(m)
				drained = append(drained, m)
			}
		default:
			more = false
		}
	}
	h.busMu.Unlock()
	for _, m := range drained {
		h.handleBus(m)
	}
}

// invalidate drops the cached record a session change or end names.
func (h *Handler) invalidate(m busMsg) {
	switch {
	case m.Type == msgEnd, m.Type == msgChanged && m.Nonce != h.instance:
		h.cache.drop(m.SID)
	}
}

// echoWait bounds how long a session change waits for its own invalidation
// to come back from the bus.
const echoWait = 100 * time.Millisecond

// publishFenced publishes a session change (msgChanged, msgEnd) to every
// instance and waits until this instance received it back: the store hands
// a message to all subscribers at once, so by then the other instances
// have it too and drop their cached record before the client, told of the
// change, can reach them. Bounded by echoWait.
func (h *Handler) publishFenced(ctx context.Context, m busMsg) {
	if h.cache == nil {
		h.publish(ctx, topicAll, m) // no cached records to fence
		return
	}
	m.Nonce, m.ID = h.instance, newID()
	done := make(chan struct{})
	h.mu.Lock()
	h.echoes[m.ID] = done
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.echoes, m.ID)
		h.mu.Unlock()
	}()
	if !h.publish(ctx, topicAll, m) {
		return
	}
	t := time.NewTimer(echoWait)
	defer t.Stop()
	select {
	case <-done:
		// The other instances received it at the same time; give their
		// bus readers a moment to hand it on.
		time.Sleep(fenceGrace)
	case <-t.C:
		h.log.Warn("session change not echoed by the bus in time", "session", m.SID, "type", m.Type)
	}
}

// fenceGrace is how long a session change waits, after its echo, for the
// other instances' bus readers.
const fenceGrace = 2 * time.Millisecond

// echoed signals publishFenced that its message came back.
func (h *Handler) echoed(m busMsg) {
	if m.Nonce != h.instance || m.ID == "" {
		return
	}
	h.mu.Lock()
	done := h.echoes[m.ID]
	delete(h.echoes, m.ID)
	h.mu.Unlock()
	if done != nil {
		close(done)
	}
}

// routeResponse sends a client's answer to a server-to-client request to
// the instance whose session asked, wherever the answer arrived.
func (h *Handler) routeResponse(ctx context.Context, sid string, resp *jsonrpc.Response) {
	raw, ok := resp.ID.Raw().(string)
	inst, rest, ok2 := strings.Cut(raw, "~")
	nonce, n, ok3 := strings.Cut(rest, "~")
	if !ok || !ok2 || !ok3 {
		h.log.Warn("response to an unknown request dropped", "session", sid, "id", resp.ID.Raw())
		return
	}
	data, err := jsonrpc.EncodeMessage(resp)
	if err != nil {
		return
	}
	if inst == h.instance {
		h.deliverResponse(sid, nonce, n, data)
		return
	}
	if h.publish(ctx, topicInstance(inst), busMsg{Type: msgResponse, SID: sid, Nonce: nonce, ID: n, Msg: data}) {
		h.metrics.Delivered(ctx, deliveryResponseForwarded, 1)
	}
}

// deliverResponse hands an answer to the local connection that asked.
func (h *Handler) deliverResponse(sid, nonce, n string, data []byte) {
	h.mu.Lock()
	c := h.conns[nonce]
	h.mu.Unlock()
	if c == nil || c.sid != sid {
		h.log.Warn("response for a finished or foreign request dropped", "session", sid)
		return
	}
	msg, err := jsonrpc.DecodeMessage(data)
	if err != nil {
		return
	}
	resp, ok := msg.(*jsonrpc.Response)
	if !ok {
		return
	}
	num, err := strconv.ParseInt(n, 10, 64)
	if err != nil {
		return
	}
	id, err := jsonrpc.MakeID(float64(num))
	if err != nil {
		return
	}
	resp.ID = id
	c.inject(resp)
}

// broadcastCancel forwards notifications/cancelled to the instance running
// the request ([Cancellation]).
//
// [Cancellation]: https://modelcontextprotocol.io/specification/2025-11-25/basic/utilities/cancellation
func (h *Handler) broadcastCancel(ctx context.Context, sid string, req *jsonrpc.Request) {
	var p struct {
		RequestID any `json:"requestId"`
	}
	if err := json.Unmarshal(req.Params, &p); err != nil || p.RequestID == nil {
		return
	}
	id, err := jsonrpc.MakeID(p.RequestID)
	if err != nil {
		return
	}
	data, err := jsonrpc.EncodeMessage(req)
	if err != nil {
		return
	}
	if h.publish(ctx, topicAll, busMsg{Type: msgCancel, SID: sid, ID: idKey(id), Msg: data}) {
		h.metrics.Delivered(ctx, deliveryCancelForwarded, 1)
	}
}

// ResourceUpdated notifies every session subscribed to params.URI, on every
// instance: legacy sessions through their standalone stream (stored, so a
// client that reconnects later still gets it) and 2026-07-28
// subscriptions/listen streams held by any instance. Call it instead of
// [mcp.Server.ResourceUpdated], which reaches only this process.
func (h *Handler) ResourceUpdated(ctx context.Context, params *mcp.ResourceUpdatedNotificationParams) error {
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	data, err := jsonrpc.EncodeMessage(&jsonrpc.Request{Method: "notifications/resources/updated", Params: p})
	if err != nil {
		return err
	}
	sids, err := h.store.ResourceSubscribers(ctx, params.URI)
	if err != nil {
		return fmt.Errorf("handler: listing subscribers of %s: %w", params.URI, err)
	}
	var firstErr error
	for _, sid := range sids {
		if _, err := h.store.AppendEvents(ctx, sid, []state.Event{{Data: data}}, h.appendOptions()); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("handler: notifying session: %w", err)
		}
	}
	h.publish(ctx, topicAll, busMsg{Type: msgResource, Msg: p})
	return firstErr
}

// Broadcast runs the functions registered with [Handler.OnBroadcast] for
// topic on every instance sharing the store, this one included, with
// payload. Delivery is at most once. Use it for changes every instance must
// apply, such as adding a tool (each instance's server then notifies its
// own clients).
func (h *Handler) Broadcast(ctx context.Context, topic string, payload []byte) error {
	m, err := json.Marshal(busMsg{Type: msgUser, Topic: topic, Msg: payload})
	if err != nil {
		return err
	}
	sctx, cancel := h.storeContext(ctx)
	defer cancel()
	if err := h.store.Publish(sctx, topicAll, m); err != nil {
		return fmt.Errorf("handler: broadcast %q: %w", topic, err)
	}
	return nil
}

// OnBroadcast registers fn for broadcasts on topic. Register before
// serving; fn runs on the handler's subscription goroutine and must not
// block for long. payload must be valid JSON (it travels as a JSON value).
func (h *Handler) OnBroadcast(topic string, fn func(ctx context.Context, payload []byte)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bcastFns[topic] = append(h.bcastFns[topic], fn)
}

// Notify sends a notification to a legacy session from outside any request
// (a background job finishing, say), wherever the session's client listens:
// it is appended to the session's standalone stream in the store and
// delivered by whichever instance holds the client's GET stream, or
// replayed when the client reconnects. sessionID is
// [mcp.ServerSession.ID] of a request's session. A session's ephemeral
// [mcp.ServerSession] is closed when its request ends, so use Notify rather
// than keeping it for later. The caller applies the session's log level to
// notifications/message itself.
func (h *Handler) Notify(ctx context.Context, sessionID, method string, params any) error {
	if !validSessionID(sessionID) {
		return fmt.Errorf("handler: notify: invalid session ID")
	}
	if !strings.HasPrefix(method, "notifications/") {
		return fmt.Errorf("handler: notify: %q is not a notification method", method)
	}
	p, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("handler: notify: %w", err)
	}
	data, err := jsonrpc.EncodeMessage(&jsonrpc.Request{Method: method, Params: p})
	if err != nil {
		return fmt.Errorf("handler: notify: %w", err)
	}
	if err := h.appendStandalone(ctx, sessionID, data); err != nil {
		return fmt.Errorf("handler: notify: %w", err)
	}
	return nil
}
