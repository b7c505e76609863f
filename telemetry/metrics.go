package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/semconv/v1.41.0/mcpconv"
)

// Names of the metrics this package records besides the MCP ones
// (mcp.server.operation.duration and mcp.server.session.duration).
const (
	MetricActiveStreams   = "mcpfleet.sse.active_streams"
	MetricDeliveries      = "mcpfleet.deliveries"
	MetricStoreErrors     = "mcpfleet.store.errors"
	MetricStoreDuration   = "mcpfleet.store.operation.duration"
	AttrDeliveryKind      = attribute.Key("mcpfleet.delivery.kind")
	AttrStoreOperation    = attribute.Key("mcpfleet.store.operation")
	attrErrorType         = attribute.Key("error.type")
	errorTypeOther        = "_OTHER"
	errorTypeToolError    = "tool_error"
	errorTypeTimeout      = "timeout"
	errorTypeCanceled     = "canceled"
	metricUnitSeconds     = "s"
	metricUnitStreams     = "{stream}"
	metricUnitMessages    = "{message}"
	metricUnitStoreErrors = "{error}"
)

// mcpDurationBuckets are the explicit bucket boundaries the MCP semantic
// conventions specify for mcp.server.operation.duration and
// mcp.server.session.duration.
var mcpDurationBuckets = []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}

// storeDurationBuckets suit a state store on the same network (Redis):
// 0.5 ms to 5 s.
var storeDurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// DeliveryKind names a cross-instance delivery counted by
// [Metrics.Delivered]. Other values may be used. It is an alias of string so
// that *Metrics satisfies interfaces declared by its users with a plain
// string parameter (the fleet handler's handler.Metrics).
type DeliveryKind = string

// Delivery kinds of the fleet handler.
const (
	// A response (or server-to-client request answer) relayed to the
	// instance holding the waiting stream.
	DeliveryResponseForwarded DeliveryKind = "response_forwarded"
	// An event replayed from the store on a resumed stream (Last-Event-ID).
	DeliveryEventReplayed DeliveryKind = "event_replayed"
	// A notification relayed to the instance holding the session's stream.
	DeliveryNotificationForwarded DeliveryKind = "notification_forwarded"
	// A notifications/cancelled relayed to the instance running the call.
	DeliveryCancelForwarded DeliveryKind = "cancel_forwarded"
)

// Metrics records the MCP and operator metrics. A nil *Metrics is valid and
// records nothing, so code can hold one whether or not telemetry is on.
//
// Instruments:
//
//	mcp.server.operation.duration      histogram  s         MCPMiddleware, per request/notification
//	mcp.server.session.duration        histogram  s         TrackSession, SessionEnded
//	mcpfleet.sse.active_streams        updown     {stream}  StreamOpened (and its close func)
//	mcpfleet.deliveries                counter    {message} Delivered; attribute mcpfleet.delivery.kind
//	mcpfleet.store.errors              counter    {error}   StoreOp; attributes mcpfleet.store.operation, error.type
//	mcpfleet.store.operation.duration  histogram  s         StoreOp; attributes mcpfleet.store.operation, error.type on failure
type Metrics struct {
	operation     mcpconv.ServerOperationDuration
	session       mcpconv.ServerSessionDuration
	streams       metric.Int64UpDownCounter
	deliveries    metric.Int64Counter
	storeErrors   metric.Int64Counter
	storeDuration metric.Float64Histogram

	// storeOK caches the attribute option of a successful store operation
	// by its name (a small fixed set), so that the request path does not
	// build the same attribute set again each time; storeOKLen bounds it.
	storeOK    sync.Map // string → metric.MeasurementOption
	storeOKLen atomic.Int32
}

// maxStoreOps bounds Metrics.storeOK against callers that pass unbounded
// operation names.
const maxStoreOps = 64

func newMetrics(m metric.Meter) (*Metrics, error) {
	var out Metrics
	var errs []error
	var err error
	out.operation, err = mcpconv.NewServerOperationDuration(m, metric.WithExplicitBucketBoundaries(mcpDurationBuckets...))
	errs = append(errs, err)
	out.session, err = mcpconv.NewServerSessionDuration(m, metric.WithExplicitBucketBoundaries(mcpDurationBuckets...))
	errs = append(errs, err)
	out.streams, err = m.Int64UpDownCounter(MetricActiveStreams,
		metric.WithDescription("SSE response streams currently open on this instance."),
		metric.WithUnit(metricUnitStreams))
	errs = append(errs, err)
	out.deliveries, err = m.Int64Counter(MetricDeliveries,
		metric.WithDescription("Messages delivered across instances, by kind."),
		metric.WithUnit(metricUnitMessages))
	errs = append(errs, err)
	out.storeErrors, err = m.Int64Counter(MetricStoreErrors,
		metric.WithDescription("Failed state-store operations, by operation."),
		metric.WithUnit(metricUnitStoreErrors))
	errs = append(errs, err)
	out.storeDuration, err = m.Float64Histogram(MetricStoreDuration,
		metric.WithDescription("Duration of state-store operations, by operation."),
		metric.WithUnit(metricUnitSeconds),
		metric.WithExplicitBucketBoundaries(storeDurationBuckets...))
	errs = append(errs, err)
	return &out, errors.Join(errs...)
}

// StreamOpened counts an SSE stream as open and returns the function that
// counts it closed; call that exactly once (extra calls do nothing).
func (m *Metrics) StreamOpened(ctx context.Context) (closed func()) {
	if m == nil {
		return func() {}
	}
	ctx = context.WithoutCancel(ctx)
	m.streams.Add(ctx, 1)
	done := false
	return func() {
		if done {
			return
		}
		done = true
		m.streams.Add(ctx, -1)
	}
}

// Delivered counts n messages delivered across instances.
func (m *Metrics) Delivered(ctx context.Context, kind DeliveryKind, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.deliveries.Add(ctx, int64(n), metric.WithAttributes(AttrDeliveryKind.String(string(kind))))
}

// StoreOp starts timing the state-store operation op ("load_session",
// "append_events", …: a small fixed set) and returns the function to call
// with its result. It records mcpfleet.store.operation.duration and, when
// err is not nil, mcpfleet.store.errors.
//
//	done := metrics.StoreOp(ctx, "load_session")
//	rec, err := store.LoadSession(ctx, sid, ttl)
//	done(err)
func (m *Metrics) StoreOp(ctx context.Context, op string) (done func(err error)) {
	if m == nil {
		return func(error) {}
	}
	start := time.Now()
	return func(err error) {
		m.RecordStoreOp(ctx, op, time.Since(start), err)
	}
}

// RecordStoreOp records one state-store operation that took d and ended
// with err (nil for success).
func (m *Metrics) RecordStoreOp(ctx context.Context, op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	if err == nil {
		m.storeDuration.Record(ctx, d.Seconds(), m.storeOKOption(op))
		return
	}
	attrs := metric.WithAttributes(AttrStoreOperation.String(op), attrErrorType.String(errorType(err)))
	m.storeDuration.Record(ctx, d.Seconds(), attrs)
	m.storeErrors.Add(ctx, 1, attrs)
}

func (m *Metrics) storeOKOption(op string) metric.MeasurementOption {
	if o, ok := m.storeOK.Load(op); ok {
		return o.(metric.MeasurementOption)
	}
	o := metric.WithAttributeSet(attribute.NewSet(AttrStoreOperation.String(op)))
	if m.storeOKLen.Load() < maxStoreOps {
		if _, loaded := m.storeOK.LoadOrStore(op, o); !loaded {
			m.storeOKLen.Add(1)
		}
	}
	return o
}

// SessionEnded records mcp.server.session.duration for a session that lasted
// d. protocolVersion is the negotiated MCP version ("" if unknown);
// errorType is empty unless the session ended with an error. The fleet
// handler calls it when a session is deleted; go-sdk sessions owned by this
// process can use [Telemetry.TrackSession] instead.
func (m *Metrics) SessionEnded(ctx context.Context, d time.Duration, protocolVersion, errorType string) {
	if m == nil {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 2)
	if protocolVersion != "" {
		attrs = append(attrs, m.session.AttrProtocolVersion(protocolVersion))
	}
	if errorType != "" {
		attrs = append(attrs, m.session.AttrErrorType(mcpconv.ErrorTypeAttr(errorType)))
	}
	m.session.Record(ctx, d.Seconds(), attrs...)
}

// errorType is a low-cardinality error.type for err.
func errorType(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return errorTypeTimeout
	case errors.Is(err, context.Canceled):
		return errorTypeCanceled
	}
	// fmt.Errorf wrappers say nothing about the failure: look inside.
	for {
		w, ok := err.(interface{ Unwrap() error })
		if !ok || fmt.Sprintf("%T", err) != "*fmt.wrapError" || w.Unwrap() == nil {
			break
		}
		err = w.Unwrap()
	}
	return fmt.Sprintf("%T", err)
}
