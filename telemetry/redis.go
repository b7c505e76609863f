package telemetry

import (
	"errors"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
)

// InstrumentRedis adds tracing (a CLIENT span per command or pipeline,
// children of the span in the command's context) and metrics (command
// durations, connection-pool usage) to client with redisotel. Command
// arguments are not recorded (db.statement off): they carry session state,
// which may hold tool results and credentials. It does nothing when
// OTEL_SDK_DISABLED=true.
func (t *Telemetry) InstrumentRedis(client redis.UniversalClient) error {
	if t.disabled || client == nil {
		return nil
	}
	return errors.Join(
		redisotel.InstrumentTracing(client,
			redisotel.WithTracerProvider(t.tp),
			redisotel.WithDBStatement(false),
		),
		redisotel.InstrumentMetrics(client, redisotel.WithMeterProvider(t.mp)),
	)
}
