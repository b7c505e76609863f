package handler

import (
	"context"
	"errors"
	"time"

	"github.com/mcpfleet/mcpfleet/state"
)

// Metrics receives the handler's operational measurements. The telemetry
// package's *telemetry.Metrics implements it; nil in [Options] means none
// (a no-op that costs no allocation on the request path).
//
// Delivery kinds passed to Delivered:
//
//   - "response_forwarded": a client's answer to a server-to-client request
//     (elicitation, sampling, roots) that arrived on this instance was
//     published to the instance whose session asked;
//   - "cancel_forwarded": a notifications/cancelled was published to the
//     instances, for the one running the call;
//   - "event_replayed": events written from the store on a GET that resumes
//     a stream (Last-Event-ID);
//   - "notification_forwarded": events written from the store on a
//     session's standalone GET stream (detached notifications, logs,
//     resources/updated, [Handler.Notify]), whichever instance stored them.
//
// Store operations passed to StoreOp: load_session, create_session,
// save_session, delete_session, append_events, read_events, publish. A
// session that does not exist (state.ErrNotFound) is an outcome, not a
// failure: StoreOp's done gets nil for it.
//
// StreamOpened is called for every SSE response stream this instance
// holds: a POST carrying requests (until its HTTP response is released) and
// a GET (standalone or resumed). SessionEnded is called when a DELETE ends
// a session, with the time since its initialize and its negotiated
// protocol version; sessions that expire idle are not reported.
type Metrics interface {
	// StreamOpened counts an SSE stream open and returns the function that
	// counts it closed; the handler calls that exactly once.
	StreamOpened(ctx context.Context) (closed func())
	// Delivered counts n messages delivered across instances, by kind.
	Delivered(ctx context.Context, kind string, n int)
	// StoreOp starts timing the store operation op and returns the function
	// the handler calls with its result.
	StoreOp(ctx context.Context, op string) (done func(err error))
	// SessionEnded records the lifetime of a session ended by DELETE.
	SessionEnded(ctx context.Context, d time.Duration, protocolVersion, errorType string)
}

// Delivery kinds reported to Metrics.Delivered.
const (
	deliveryResponseForwarded     = "response_forwarded"
	deliveryCancelForwarded       = "cancel_forwarded"
	deliveryEventReplayed         = "event_replayed"
	deliveryNotificationForwarded = "notification_forwarded"
)

// noMetrics is the Metrics of a handler without Options.Metrics. Its
// methods allocate nothing.
type noMetrics struct{}

func noClose()                                           {}
func noDone(error)                                       {}
func (noMetrics) StreamOpened(context.Context) func()    { return noClose }
func (noMetrics) Delivered(context.Context, string, int) {}
func (noMetrics) StoreOp(context.Context, string) func(error) {
	return noDone
}
func (noMetrics) SessionEnded(context.Context, time.Duration, string, string) {}

// meteredStore times the store operations of the request path and reports
// them to Metrics. It is only installed when Options.Metrics is set, so a
// handler without metrics calls its store directly.
type meteredStore struct {
	state.Store
	m Metrics
}

// outcome is the error reported for a store operation: a missing session
// is an answer, not a failure of the store.
func outcome(err error) error {
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	return err
}

func (s meteredStore) CreateSession(ctx context.Context, id string, data []byte, ttl time.Duration) error {
	done := s.m.StoreOp(ctx, "create_session")
	err := s.Store.CreateSession(ctx, id, data, ttl)
	done(err)
	return err
}

func (s meteredStore) LoadSession(ctx context.Context, id string, ttl time.Duration) ([]byte, error) {
	done := s.m.StoreOp(ctx, "load_session")
	data, err := s.Store.LoadSession(ctx, id, ttl)
	done(outcome(err))
	return data, err
}

func (s meteredStore) SaveSession(ctx context.Context, id string, data []byte, ttl time.Duration) error {
	done := s.m.StoreOp(ctx, "save_session")
	err := s.Store.SaveSession(ctx, id, data, ttl)
	done(outcome(err))
	return err
}

func (s meteredStore) DeleteSession(ctx context.Context, id string) (bool, error) {
	done := s.m.StoreOp(ctx, "delete_session")
	ok, err := s.Store.DeleteSession(ctx, id)
	done(err)
	return ok, err
}

func (s meteredStore) AppendEvents(ctx context.Context, sessionID string, events []state.Event, opts state.AppendOptions) ([]string, error) {
	done := s.m.StoreOp(ctx, "append_events")
	ids, err := s.Store.AppendEvents(ctx, sessionID, events, opts)
	done(err)
	return ids, err
}

func (s meteredStore) ReadEvents(ctx context.Context, sessionID string, afterID string, limit int) ([]state.Event, error) {
	done := s.m.StoreOp(ctx, "read_events")
	evs, err := s.Store.ReadEvents(ctx, sessionID, afterID, limit)
	done(err)
	return evs, err
}

func (s meteredStore) Publish(ctx context.Context, topic string, payload []byte) error {
	done := s.m.StoreOp(ctx, "publish")
	err := s.Store.Publish(ctx, topic, payload)
	done(err)
	return err
}
