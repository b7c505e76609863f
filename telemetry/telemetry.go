package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of the spans and metrics this
// package records.
const ScopeName = "github.com/mcpfleet/mcpfleet/telemetry"

// Platforms accepted by [Options.Platform].
const (
	PlatformCloudRun = "cloudrun"
	PlatformLambda   = "lambda"
	PlatformLocal    = "local"
)

// Log formats accepted by [Options.LogFormat].
const (
	LogFormatAuto = "auto"
	LogFormatJSON = "json"
	LogFormatText = "text"
)

// Options configures [New]. The zero value is usable: platform detected from
// the environment, exporters from the standard OTEL_* variables, INFO logs.
type Options struct {
	// ServiceName and ServiceVersion become service.name and
	// service.version. OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override them. An empty ServiceName leaves the SDK's default
	// (unknown_service:<executable>).
	ServiceName    string
	ServiceVersion string

	// Platform is "cloudrun", "lambda", "local", or "" to detect it from the
	// environment: K_SERVICE means Cloud Run, AWS_LAMBDA_FUNCTION_NAME
	// Lambda, anything else local. It selects the log format and the
	// resource attributes.
	Platform string

	// LogLevel is the minimum level [Telemetry.Logger] writes.
	LogLevel slog.Level

	// LogFormat is "auto" (or ""), "json" or "text". auto and json write the
	// platform's JSON (Cloud Logging structured logging on Cloud Run, JSON
	// lines with requestId on Lambda, slog-style JSON locally); auto writes
	// text instead when running locally on a terminal.
	LogFormat string

	// LogWriter receives the log lines. Default: os.Stdout on Cloud Run and
	// Lambda, os.Stderr locally.
	LogWriter io.Writer

	// ProjectID is the Google Cloud project used to build the
	// logging.googleapis.com/trace field on Cloud Run. Default: the first of
	// GOOGLE_CLOUD_PROJECT, GCP_PROJECT, GCLOUD_PROJECT,
	// CLOUDSDK_CORE_PROJECT that is set (the metadata server is never
	// asked, so start-up makes no network call).
	ProjectID string

	// RecordArguments records tool-call arguments on the tools/call span as
	// gen_ai.tool.call.arguments (JSON, with secret-looking keys redacted).
	// Default false: arguments are never logged or put on spans.
	RecordArguments bool

	// AllowKeys lists attribute keys (case-insensitive, exact) that are
	// written as they are even though they look secret (contain password,
	// secret, token, key, authorization, credential, cookie or passwd).
	AllowKeys []string

	// SpanExporter and MetricReader replace the exporters otherwise built
	// by go.opentelemetry.io/contrib/exporters/autoexport from OTEL_*
	// variables (OTLP over HTTP by default). For tests (tracetest,
	// sdkmetric.NewManualReader) and custom pipelines. Ignored when
	// OTEL_SDK_DISABLED=true.
	SpanExporter sdktrace.SpanExporter
	MetricReader sdkmetric.Reader
}

// Telemetry owns a tracer provider, a meter provider and a logger, and
// hands out the middleware that use them. Create it with [New]; every method
// is safe for concurrent use. Nothing is global: call [Telemetry.SetGlobal]
// to make the providers the otel package's defaults.
type Telemetry struct {
	opts      Options
	platform  string
	projectID string
	disabled  bool

	tp       trace.TracerProvider
	mp       metric.MeterProvider
	sdkTP    *sdktrace.TracerProvider // nil when disabled
	sdkMP    *sdkmetric.MeterProvider // nil when disabled
	prop     propagation.TextMapPropagator
	tracer   trace.Tracer
	metrics  *Metrics
	logger   *slog.Logger
	redactor *redactor

	inflight inflight // see inflight

	shutdownOnce sync.Once
	shutdownErr  error
}

// New builds a Telemetry. It never blocks on a collector: exporters connect
// lazily and export in the background. With OTEL_SDK_DISABLED=true the
// providers are no-ops (logs still carry incoming trace IDs). Exporters
// follow the standard variables (OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER,
// OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, …) through
// autoexport; the sampler follows OTEL_TRACES_SAMPLER.
func New(ctx context.Context, opts Options) (*Telemetry, error) {
	t := &Telemetry{
		opts:      opts,
		platform:  detectPlatform(opts.Platform, os.Getenv),
		projectID: detectProject(opts.ProjectID, os.Getenv),
		prop:      propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	switch strings.ToLower(opts.LogFormat) {
	case "", LogFormatAuto, LogFormatJSON, LogFormatText:
	default:
		return nil, fmt.Errorf("telemetry: LogFormat %q: want auto, json or text", opts.LogFormat)
	}
	t.redactor = newRedactor(opts.AllowKeys, os.Environ())
	t.logger = slog.New(newLogHandler(t.logConfig()))

	t.disabled = strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true")
	if t.disabled {
		t.tp = tracenoop.NewTracerProvider()
		t.mp = metricnoop.NewMeterProvider()
	} else {
		res, err := buildResource(ctx, t.platform, t.projectID, opts, os.Getenv)
		switch {
		case err == nil:
		case res != nil && (errors.Is(err, resource.ErrPartialResource) || errors.Is(err, resource.ErrSchemaURLConflict)):
			// A malformed OTEL_RESOURCE_ATTRIBUTES, say: keep what was detected.
			t.logger.Warn("telemetry: resource", "err", err)
		default:
			return nil, fmt.Errorf("telemetry: resource: %w", err)
		}
		exp := opts.SpanExporter
		if exp == nil {
			if exp, err = autoexport.NewSpanExporter(ctx); err != nil {
				return nil, fmt.Errorf("telemetry: span exporter: %w", err)
			}
		}
		reader := opts.MetricReader
		if reader == nil {
			if reader, err = autoexport.NewMetricReader(ctx); err != nil {
				_ = exp.Shutdown(ctx)
				return nil, fmt.Errorf("telemetry: metric reader: %w", err)
			}
		}
		tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
		if !autoexport.IsNoneSpanExporter(exp) {
			tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
		}
		t.sdkTP = sdktrace.NewTracerProvider(tpOpts...)
		t.sdkMP = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
		t.tp, t.mp = t.sdkTP, t.sdkMP
	}

	t.tracer = t.tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL))
	m, err := newMetrics(t.mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL)))
	if err != nil {
		_ = t.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry: instruments: %w", err)
	}
	t.metrics = m

	if t.platform == PlatformCloudRun && t.projectID == "" {
		t.logger.Warn("telemetry: no Google Cloud project (set GOOGLE_CLOUD_PROJECT): log entries are not linked to traces")
	}
	return t, nil
}

// Platform returns the platform in effect: cloudrun, lambda or local.
func (t *Telemetry) Platform() string { return t.platform }

// Logger returns the process logger (see the package documentation for its
// formats). Records logged with a context carry the trace and span IDs of
// the span in it, and the MCP method and session set by
// [Telemetry.MCPMiddleware].
func (t *Telemetry) Logger() *slog.Logger { return t.logger }

// TracerProvider returns the tracer provider (a no-op one when disabled).
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tp }

// MeterProvider returns the meter provider (a no-op one when disabled).
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// Propagator returns the W3C trace-context and baggage propagator used for
// HTTP headers and MCP params._meta.
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.prop }

// Metrics returns the operator instruments. Never nil.
func (t *Telemetry) Metrics() *Metrics { return t.metrics }

// SetGlobal installs the providers and the propagator as the otel package's
// globals (so otel.Tracer works in tool code) and routes the SDK's internal
// errors (failed exports, …) to Logger at WARN. It changes process-wide
// state: call it once, from main.
func (t *Telemetry) SetGlobal() {
	otel.SetTracerProvider(t.tp)
	otel.SetMeterProvider(t.mp)
	otel.SetTextMapPropagator(t.prop)
	logger := t.logger
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("opentelemetry", "err", err)
	}))
}

// Flush exports every finished span and the current metrics, waiting at most
// until ctx is done. On Lambda call it before each invocation returns
// ([Telemetry.HTTPMiddleware] does so by itself there).
func (t *Telemetry) Flush(ctx context.Context) error {
	if t.disabled {
		return nil
	}
	return errors.Join(t.sdkTP.ForceFlush(ctx), t.sdkMP.ForceFlush(ctx))
}

// Shutdown flushes and stops the providers; later spans and measurements are
// dropped. It waits at most until ctx is done. Calling it again returns the
// first result.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		if t.sdkTP != nil {
			t.shutdownErr = errors.Join(t.shutdownErr, t.sdkTP.Shutdown(ctx))
		}
		if t.sdkMP != nil {
			t.shutdownErr = errors.Join(t.shutdownErr, t.sdkMP.Shutdown(ctx))
		}
	})
	return t.shutdownErr
}

// lambdaFlushTimeout bounds the flush HTTPMiddleware does after each request
// on Lambda.
const lambdaFlushTimeout = 2 * time.Second
