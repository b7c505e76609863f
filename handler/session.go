package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sessionRecord is what a legacy session accumulates, as stored in the
// state store (JSON). Everything needed to restore a go-sdk session on any
// instance is here.
type sessionRecord struct {
	// V is the record format version.
	V int `json:"v"`
	// State is go-sdk's session state: initialize and initialized params
	// (client capabilities included), negotiated version, log level.
	State mcp.ServerSessionState `json:"state"`
	// UserID is the caller's identity at initialize (auth.TokenInfo.UserID),
	// if the request carried one. Later requests must carry the same.
	UserID string `json:"uid,omitempty"`
	// Subscriptions are the resource URIs the session subscribed to.
	Subscriptions []string `json:"subs,omitempty"`
	// Created is when the session was initialized (UTC, milliseconds), for
	// its lifetime when it ends. Zero in records written before it existed.
	Created time.Time `json:"ct,omitzero"`
}

const recordVersion = 1

func decodeRecord(data []byte) (*sessionRecord, error) {
	var rec sessionRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("decoding session record: %w", err)
	}
	if rec.V != recordVersion {
		return nil, fmt.Errorf("session record version %d, want %d", rec.V, recordVersion)
	}
	return &rec, nil
}

func (rec *sessionRecord) encode() []byte {
	data, err := json.Marshal(rec)
	if err != nil {
		// All fields are plain data; this cannot fail.
		panic(fmt.Sprintf("encoding session record: %v", err))
	}
	return data
}

// userIDFrom returns the caller identity go-sdk's auth middleware put in
// the context, or "".
func userIDFrom(ctx context.Context) string {
	if ti := auth.TokenInfoFromContext(ctx); ti != nil {
		return ti.UserID
	}
	return ""
}

// errStoreUnavailable is the JSON-RPC error sent when session state could
// not be persisted. The client may retry.
func errStoreUnavailable(error) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "session store unavailable, retry shortly"}
}

// middleware is installed on the mcp.Server. It
//   - unseals multi-round-trip requestState on the way in and seals it on
//     the way out (all eras);
//   - for legacy sessions, persists every state change (initialize,
//     notifications/initialized, logging/setLevel, resources/subscribe and
//     unsubscribe) before the answer leaves, and tells the connection when a
//     notification was handled.
func (h *Handler) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		c := connFrom(ctx)
		if err := h.sealer.unsealParams(ctx, method, req.GetParams()); err != nil {
			return nil, err
		}
		res, err := next(ctx, method, req)
		if err != nil {
			return res, err
		}
		if c != nil {
			if perr := c.persist(ctx, method, req.GetParams(), res); perr != nil {
				return nil, perr
			}
		}
		if serr := h.sealer.sealResult(ctx, method, req.GetParams(), res); serr != nil {
			return nil, serr
		}
		return res, nil
	}
}

// persist records the effect of a successfully handled message on the
// session record and writes it to the store when it changed.
func (c *conn) persist(ctx context.Context, method string, params mcp.Params, res mcp.Result) error {
	h := c.h
	c.recMu.Lock()
	defer c.recMu.Unlock()
	rec := c.rec
	switch method {
	case "initialize":
		p, ok := params.(*mcp.InitializeParams)
		if !ok {
			return nil
		}
		r, _ := res.(*mcp.InitializeResult)
		rec.State.InitializeParams = p
		if r != nil {
			rec.State.NegotiatedProtocolVersion = r.ProtocolVersion
		}
		sctx, cancel := h.storeContext(ctx)
		defer cancel()
		data := rec.encode()
		if err := h.store.CreateSession(sctx, c.sid, data, h.opts.SessionTTL); err != nil {
			c.failure = err
			return errStoreUnavailable(fmt.Errorf("creating session: %w", err))
		}
		h.cache.set(c.sid, data)
		c.created = true
		return nil
	case "notifications/initialized":
		if rec.State.InitializedParams != nil {
			return nil
		}
		p, _ := params.(*mcp.InitializedParams)
		if p == nil {
			p = new(mcp.InitializedParams)
		}
		rec.State.InitializedParams = p
	case "logging/setLevel":
		p, ok := params.(*mcp.SetLoggingLevelParams)
		if !ok || rec.State.LogLevel == p.Level {
			return nil
		}
		rec.State.LogLevel = p.Level
	case "resources/subscribe":
		p, ok := params.(*mcp.SubscribeParams)
		if !ok {
			return nil
		}
		sctx, cancel := h.storeContext(ctx)
		defer cancel()
		if err := h.store.AddResourceSubscriber(sctx, p.URI, c.sid, subscriberTTL(h.opts.SessionTTL)); err != nil {
			c.failure = err
			return errStoreUnavailable(fmt.Errorf("subscribing: %w", err))
		}
		if slices.Contains(rec.Subscriptions, p.URI) {
			return nil
		}
		rec.Subscriptions = append(rec.Subscriptions, p.URI)
	case "resources/unsubscribe":
		p, ok := params.(*mcp.UnsubscribeParams)
		if !ok {
			return nil
		}
		sctx, cancel := h.storeContext(ctx)
		defer cancel()
		if err := h.store.RemoveResourceSubscriber(sctx, p.URI, c.sid); err != nil {
			c.failure = err
			return errStoreUnavailable(fmt.Errorf("unsubscribing: %w", err))
		}
		i := slices.Index(rec.Subscriptions, p.URI)
		if i < 0 {
			return nil
		}
		rec.Subscriptions = slices.Delete(rec.Subscriptions, i, i+1)
	default:
		return nil
	}
	sctx, cancel := h.storeContext(ctx)
	defer cancel()
	data := rec.encode()
	if err := h.store.SaveSession(sctx, c.sid, data, h.opts.SessionTTL); err != nil {
		c.failure = err
		h.cache.drop(c.sid)
		return errStoreUnavailable(fmt.Errorf("saving session: %w", err))
	}
	if h.cache != nil {
		// Before the answer leaves: instances that cached the old record
		// drop it.
		h.cache.set(c.sid, data)
		h.publishFenced(ctx, busMsg{Type: msgChanged, SID: c.sid})
	}
	return nil
}

// subscriberTTL is the lifetime of a resource subscriber record: it must
// outlive the sliding session TTL by a margin, since only a new subscribe
// refreshes it.
func subscriberTTL(sessionTTL time.Duration) time.Duration {
	return max(4*sessionTTL, 24*time.Hour)
}
