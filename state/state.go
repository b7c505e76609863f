// Package state keeps MCP session state, per-session event logs and
// cross-instance messages outside the process, so that every HTTP request of
// one MCP session can be served by any instance of a fleet.
//
// Two implementations of [Store] are provided: [Redis], over any
// redis.UniversalClient (single node, Sentinel or Cluster), and [Memory], for a
// single process (the default when no Redis is configured). Both pass the same
// contract test suite.
//
// # Redis key layout
//
// Every key of one session carries the session ID as its hash tag, so that
// multi-key operations of a session land on one Cluster slot, and every key
// has a TTL. With the default prefix "mcpfleet":
//
//	mcpfleet:{<sid>}:session   string  session record (opaque bytes), sliding TTL
//	mcpfleet:{<sid>}:events    stream  session event log (SSE events), capped length, TTL refreshed with the session
//	mcpfleet:{<sid>}:bell      channel pub/sub doorbell: rung on every append and on delete
//	mcpfleet:{r:<hash>}:subs   set     session IDs subscribed to one resource URI (hash = SHA-256 of the URI), TTL
//	mcpfleet:{k:<name>}:key    string  shared secret named <name>, TTL
//	mcpfleet:t:<topic>         channel pub/sub topic between instances (see [Store.Publish])
package state

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound reports that a session (or other record) does not exist or has expired.
var ErrNotFound = errors.New("state: not found")

// ErrExists reports that a record to be created already exists.
var ErrExists = errors.New("state: already exists")

// ErrUnavailable wraps every failure of the backing store itself (network,
// timeout, server down). Callers answer such failures with a retryable error.
var ErrUnavailable = errors.New("state: store unavailable")

// An Event is one entry of a session's event log: one SSE event of one of the
// session's logical streams.
type Event struct {
	// ID is assigned by the store on append. IDs are strictly increasing
	// within a session's log and compare as (ms, seq) pairs written "ms-seq".
	ID string `json:"id,omitempty"`
	// Stream is the logical SSE stream the event belongs to; "" is the
	// session's standalone (GET) stream.
	Stream string `json:"s,omitempty"`
	// Index is the writer-assigned position of the event within Stream
	// (request streams only; 0 for the standalone stream).
	Index int64 `json:"i,omitempty"`
	// Data is the JSON-RPC message. It is empty for a priming event.
	Data []byte `json:"d,omitempty"`
	// Final marks the last event of its stream.
	Final bool `json:"f,omitempty"`
}

// AppendOptions bounds a session's event log.
type AppendOptions struct {
	// MaxLen caps the number of events kept per session (oldest dropped first);
	// 0 means 1000.
	MaxLen int64
	// TTL is the lifetime of the log after this append; 0 means 1h.
	TTL time.Duration
}

// Store is the contract between the MCP handler and the state backend.
//
// All methods are safe for concurrent use. Errors caused by the backend being
// unreachable wrap [ErrUnavailable].
type Store interface {
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error

	// CreateSession stores a new session record with the given TTL. It fails
	// with ErrExists if the ID is taken.
	CreateSession(ctx context.Context, id string, data []byte, ttl time.Duration) error
	// LoadSession returns a session record and, in the same round trip,
	// slides the TTL of the record and of its event log to ttl. It fails with
	// ErrNotFound when the session does not exist or has expired.
	LoadSession(ctx context.Context, id string, ttl time.Duration) ([]byte, error)
	// SaveSession replaces an existing session record, sliding its TTL. It
	// fails with ErrNotFound if the session no longer exists (for example
	// after a DELETE on another instance).
	SaveSession(ctx context.Context, id string, data []byte, ttl time.Duration) error
	// DeleteSession removes the session record and its event log, and rings
	// the session's bell so that watchers notice. It reports whether the
	// session existed.
	DeleteSession(ctx context.Context, id string) (bool, error)

	// AppendEvents appends events to a session's log in order, assigns their
	// IDs (returned in order, also set in events[i].ID), bounds the log per
	// opts and rings the session's bell, all in one round trip.
	AppendEvents(ctx context.Context, sessionID string, events []Event, opts AppendOptions) ([]string, error)
	// ReadEvents returns up to limit events (limit <= 0: all) with IDs
	// strictly greater than afterID ("" = from the start of the log), oldest
	// first.
	ReadEvents(ctx context.Context, sessionID string, afterID string, limit int) ([]Event, error)
	// LastEventID returns the ID of the newest event in a session's log, or
	// "" if the log is empty.
	LastEventID(ctx context.Context, sessionID string) (string, error)
	// Watch returns a channel that receives a value (coalesced, never
	// blocking the store) after every append to the session's log and after
	// the session is deleted, on any instance, plus once whenever the
	// connection that carries these signals is lost and once when it is
	// re-established (events may have been missed). stop releases it. Watches are multiplexed: they do not hold a
	// backend connection each.
	Watch(sessionID string) (ch <-chan struct{}, stop func())

	// Publish sends payload to every current subscriber of topic, on every
	// instance. Delivery is at most once.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe receives the payloads published to topic until stop is
	// called. Slow subscribers lose messages rather than block others (the
	// channel is buffered).
	Subscribe(topic string) (ch <-chan []byte, stop func())

	// AddResourceSubscriber records that a session is subscribed to a
	// resource URI; the record lives for ttl (refreshed on every add).
	AddResourceSubscriber(ctx context.Context, uri, sessionID string, ttl time.Duration) error
	// RemoveResourceSubscriber forgets one subscription.
	RemoveResourceSubscriber(ctx context.Context, uri, sessionID string) error
	// ResourceSubscribers lists the sessions subscribed to uri.
	ResourceSubscribers(ctx context.Context, uri string) ([]string, error)

	// SharedKey returns the secret named name, creating it atomically from
	// size random bytes if absent, so that every instance sharing the store
	// gets the same key. The key lives for ttl; each call extends it.
	SharedKey(ctx context.Context, name string, size int, ttl time.Duration) ([]byte, error)

	// Close releases the store's resources (not the caller's Redis client).
	Close() error
}
