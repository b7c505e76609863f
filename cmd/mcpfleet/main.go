// Command mcpfleet is the reference MCP server: the binary the container image
// runs and the starting point for your own server.
//
// It serves MCP (streamable HTTP, every protocol version go-sdk supports) at
// /mcp, with session state in Redis when REDIS_URL is set and in memory
// otherwise, and behaves the way Cloud Run expects: it listens on $PORT
// (default 8080), answers /healthz and /readyz, and drains on SIGTERM. With no
// environment at all,
//
//	go run ./cmd/mcpfleet
//
// serves http://localhost:8080/mcp with in-memory state (one instance).
//
// Under the AWS Lambda runtime (AWS_LAMBDA_RUNTIME_API set) the same binary,
// named bootstrap (scripts/lambda-package.sh), serves the invocations of a
// function URL instead (package adapters/lambda; LAMBDA_INVOKE_MODE says
// whether the URL streams), and reads the Redis password from Secrets
// Manager at the first connection when REDIS_PASSWORD_SECRET_ARN is set.
//
// Usage:
//
//	mcpfleet               serve (configuration from the environment)
//	mcpfleet healthcheck   probe the server in this container (image HEALTHCHECK)
//	mcpfleet version       print the version
//
// Configuration is read by internal/config; see docs/cloudrun.md for every
// variable. An invalid configuration prints every problem and exits with
// status 2. One variable belongs to the example tools, not to mcpfleet:
//
//	EXAMPLE_QUOTE_FAILURE_RATE   share (0-1, default 0) of calls to the simulated
//	                             quote service that fail, to try fetch_quote's
//	                             retryable error path
//
// Telemetry (package telemetry, docs/observability.md): OpenTelemetry spans
// and metrics exported as the standard OTEL_* variables say (OTLP to
// localhost:4318 by default; OTEL_SDK_DISABLED=true turns them off), flushed
// during the drain, and logs on stderr in the platform's format (Cloud
// Logging JSON on Cloud Run, linked to traces when GOOGLE_CLOUD_PROJECT is
// set).
//
// Exit status: 0 after a clean drain, 1 when serving failed or the drain did
// not finish within SHUTDOWN_GRACE, 2 for a configuration or usage error.
//
// The tools, resource and prompt (server.go, tools.go) are examples of
// production patterns: input validation reported as tool errors, dependency
// failures reported as retryable, progress and cancellation, elicitation,
// panics recovered, and a per-instance health report.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mcpfleet/mcpfleet/adapters/cloudrun"
	"github.com/mcpfleet/mcpfleet/adapters/lambda"
	"github.com/mcpfleet/mcpfleet/handler"
	"github.com/mcpfleet/mcpfleet/internal/awssecret"
	"github.com/mcpfleet/mcpfleet/internal/config"
	"github.com/mcpfleet/mcpfleet/state"
	"github.com/mcpfleet/mcpfleet/telemetry"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
)

// mcpPath is where the MCP endpoint is mounted.
const mcpPath = "/mcp"

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "healthcheck":
			os.Exit(cloudrun.HealthcheckMain(os.Args[2:]))
		case "version", "-version", "--version":
			fmt.Println("mcpfleet", buildVersion())
			os.Exit(0)
		case "help", "-h", "-help", "--help":
			fmt.Print(usage)
			os.Exit(0)
		default:
			fmt.Fprintf(os.Stderr, "mcpfleet: unknown argument %q\n%s", os.Args[1], usage)
			os.Exit(2)
		}
	}
	os.Exit(run(context.Background(), os.LookupEnv, os.Stderr))
}

const usage = `usage:
  mcpfleet               serve MCP at /mcp on $PORT (configuration from the environment)
  mcpfleet healthcheck   [-addr host:port] [-path /healthz] [-timeout 3s]
  mcpfleet version
`

// run serves until SIGTERM or SIGINT (or ctx is done) and returns the exit
// status.
func run(ctx context.Context, lookup func(string) (string, bool), stderr io.Writer) int {
	cfg, appCfg, err := loadConfig(lookup)
	if err != nil {
		fmt.Fprintf(stderr, "mcpfleet: %v\n", err)
		return 2
	}
	version := buildVersion()

	// Telemetry: traces and metrics exported as the OTEL_* variables say
	// (OTLP to localhost:4318 by default, nothing with
	// OTEL_SDK_DISABLED=true), and the process logger in the platform's
	// format (Cloud Logging JSON on Cloud Run). Nothing here waits for a
	// collector.
	tel, err := telemetry.New(ctx, telemetry.Options{
		ServiceName:    cfg.ServerName,
		ServiceVersion: version,
		LogLevel:       cfg.LogLevel.Slog(),
		LogFormat:      string(cfg.LogFormat),
		LogWriter:      stderr,
	})
	if err != nil { // an invalid OTEL_* variable, say
		fmt.Fprintf(stderr, "mcpfleet: %v\n", err)
		return 2
	}
	tel.SetGlobal()
	instanceID := strings.ToLower(rand.Text()[:12])
	revision, _ := lookup("K_REVISION") // set by Cloud Run
	log := tel.Logger().With("instance", instanceID)
	log.Info("mcpfleet: starting", "version", version, "platform", tel.Platform(), "config", cfg)

	// Spans and metrics still buffered are exported last, by the end of the
	// grace period that began with SIGTERM (or within a few seconds when
	// serving never began).
	drain := &drainClock{}
	defer func() {
		deadline := drain.deadline()
		if deadline.IsZero() {
			deadline = time.Now().Add(min(cfg.ShutdownGrace, 5*time.Second))
		}
		fctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		defer cancel()
		start := time.Now()
		if err := tel.Shutdown(fctx); err != nil {
			log.Warn("mcpfleet: telemetry not flushed", "err", err)
			return
		}
		log.Debug("mcpfleet: telemetry flushed", "took", time.Since(start).Round(time.Millisecond).String())
	}()

	// State store. Nothing is dialled here: Redis is first used by /readyz
	// and the first request, so an instance starts (and reports not ready)
	// while Redis is unreachable instead of crash-looping.
	var store state.Store
	storeKind := "memory"
	if cfg.UsesRedis() {
		ropts, err := cfg.RedisOptions()
		if err != nil { // validated by config already
			fmt.Fprintf(stderr, "mcpfleet: %v\n", err)
			return 2
		}
		if arn := cfg.RedisPasswordSecretARN; arn != "" {
			// Read from Secrets Manager at the first connection (and again
			// when it is rotated), never at start-up.
			secrets, err := awssecret.New(awssecret.Options{Lookup: lookup})
			if err != nil {
				fmt.Fprintf(stderr, "mcpfleet: REDIS_PASSWORD_SECRET_ARN: %v\n", err)
				return 2
			}
			user := ropts.Username
			ropts.CredentialsProviderContext = func(ctx context.Context) (string, string, error) {
				password, err := secrets.Get(ctx, arn)
				return user, password, err
			}
		}
		client := redis.NewUniversalClient(ropts)
		defer client.Close()
		if err := tel.InstrumentRedis(client); err != nil {
			log.Warn("mcpfleet: Redis instrumentation", "err", err)
		}
		rs := state.NewRedis(client, state.RedisOptions{Logger: log})
		defer rs.Close()
		store, storeKind = rs, "redis"
		log.Info("mcpfleet: state in Redis", "mode", string(cfg.RedisMode), "url", cfg.RedisURL)
	} else {
		ms := state.NewMemory(state.MemoryOptions{})
		defer ms.Close()
		store = ms
		log.Info("mcpfleet: state in memory: correct for one instance only; set REDIS_URL for a fleet")
	}

	// The server's health tool probes the store through the handler, which
	// needs the server first: h is assigned before anything is served.
	var h *handler.Handler
	app := newServer(serverOptions{
		Name:       cfg.ServerName,
		Version:    version,
		InstanceID: instanceID,
		Revision:   revision,
		StoreKind:  storeKind,
		Ready:      func(ctx context.Context) error { return h.Ready(ctx) },
		Limits: limits{
			SessionTTL:            cfg.SessionTTL,
			RequestTimeout:        cfg.RequestTimeout,
			MaxBodyBytes:          int64(cfg.MaxBodyBytes),
			MaxConcurrentRequests: cfg.MaxConcurrentRequests,
		},
		ErrorRateDegraded: cfg.ErrorRateDegraded,
		Quotes:            &simulatedQuotes{FailureRate: appCfg.QuoteFailureRate, Latency: 20 * time.Millisecond},
		Logger:            log,
	})
	h, err = handler.New(app.server, &handler.Options{
		Store:          store,
		SessionTTL:     cfg.SessionTTL,
		RequestTimeout: cfg.RequestTimeout,
		MaxBodyBytes:   int64(cfg.MaxBodyBytes),
		AllowedOrigins: cfg.AllowedOrigins,
		StateKey:       cfg.StateKeyBytes(), // nil: a key shared through the store
		InstanceID:     instanceID,
		Logger:         log.With("component", "handler"),
		Metrics:        tel.Metrics(),
	})
	if err != nil {
		log.Error("mcpfleet: creating the MCP handler", "err", err)
		return 1
	}
	defer h.Close()
	// Added after handler.New, so outermost: the MCP span covers the
	// handler's own middleware (session persistence) and the app's.
	app.server.AddReceivingMiddleware(tel.MCPMiddleware())

	mux := http.NewServeMux()
	mux.Handle(mcpPath, limitConcurrency(h, cfg.MaxConcurrentRequests, app.stats))
	if lambda.Running() {
		// AWS Lambda: one invocation at a time, frozen in between. Work
		// that outlived its response settles, and telemetry is flushed,
		// before the invocation ends.
		mode, _ := lambda.Mode(cfg.LambdaInvokeMode) // validated by config
		log.Info("mcpfleet: serving on AWS Lambda", "invokeMode", string(mode))
		lambda.Start(tel.HTTPMiddleware(mux), lambda.Options{
			InvokeMode: mode,
			AfterInvoke: func(ctx context.Context) {
				if err := h.Settle(ctx); err != nil {
					log.WarnContext(ctx, "mcpfleet: work still running at the end of the invocation", "err", err)
				}
				if err := tel.Flush(ctx); err != nil {
					log.WarnContext(ctx, "mcpfleet: telemetry not flushed", "err", err)
				}
			},
			Logger: log,
		})
		return 1 // Start returns only if the runtime API failed
	}
	// The health endpoints are answered by cloudrun.Run in front of this:
	// probes make no spans.
	err = cloudrun.Run(ctx, &service{Handler: tel.HTTPMiddleware(mux), mcp: h, drain: drain}, cloudrun.Options{
		Addr:          cfg.ListenAddr(),
		ShutdownGrace: cfg.ShutdownGrace,
		Ready:         func(ctx context.Context) error { return h.Ready(untraced(ctx)) },
		Logger:        log,
	})
	if err != nil {
		log.Error("mcpfleet: stopped with an error", "err", err)
		return 1
	}
	return 0
}

// service is what cloudrun.Run serves. A ServeMux alone would hide the MCP
// handler's Shutdown from Run, and with it the drain of open SSE streams.
type service struct {
	http.Handler
	mcp   *handler.Handler
	drain *drainClock
}

// Shutdown implements cloudrun.Shutdowner. Run calls it when the drain
// begins, with the end of the grace period as ctx's deadline.
func (s *service) Shutdown(ctx context.Context) error {
	if d, ok := ctx.Deadline(); ok {
		s.drain.set(d)
	}
	return s.mcp.Shutdown(ctx)
}

// probeSpan is the parent of a readiness probe's store PING: a span context
// that is not sampled, so that the (parent-based, by default) sampler
// records no trace for it. Balancers probe every few seconds.
var probeSpan = trace.NewSpanContext(trace.SpanContextConfig{
	TraceID: trace.TraceID{0x70, 0x72, 0x6f, 0x62, 0x65},
	SpanID:  trace.SpanID{0x70, 0x72, 0x6f, 0x62, 0x65},
})

// untraced returns ctx under probeSpan.
func untraced(ctx context.Context) context.Context {
	return trace.ContextWithSpanContext(ctx, probeSpan)
}

// drainClock remembers when the grace period ends, for the telemetry flush
// after the drain.
type drainClock struct{ end atomic.Pointer[time.Time] }

func (c *drainClock) set(t time.Time) { c.end.Store(&t) }

// deadline is the end of the grace period, or zero before the drain.
func (c *drainClock) deadline() time.Time {
	if t := c.end.Load(); t != nil {
		return *t
	}
	return time.Time{}
}

// appConfig is the configuration of the example tools: not part of
// mcpfleet's own configuration (internal/config), but validated and reported
// together with it.
type appConfig struct {
	QuoteFailureRate float64 // EXAMPLE_QUOTE_FAILURE_RATE
}

// loadConfig loads mcpfleet's configuration and the example tools' own
// variables, and reports every problem of both at once.
func loadConfig(lookup func(string) (string, bool)) (*config.Config, appConfig, error) {
	cfg, err := config.Load(lookup)
	var problems []config.Problem
	if err != nil {
		var cerr *config.Error
		if !errors.As(err, &cerr) {
			return nil, appConfig{}, err
		}
		problems = append(problems, cerr.Problems...)
	}
	var app appConfig
	if v, ok := lookup("EXAMPLE_QUOTE_FAILURE_RATE"); ok && strings.TrimSpace(v) != "" {
		f, perr := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if perr != nil || !(f >= 0 && f <= 1) {
			problems = append(problems, config.Problem{Var: "EXAMPLE_QUOTE_FAILURE_RATE", Msg: fmt.Sprintf("%q is not a number in [0, 1]", v)})
		} else {
			app.QuoteFailureRate = f
		}
	}
	if len(problems) > 0 {
		return nil, app, &config.Error{Problems: problems}
	}
	return cfg, app, nil
}

// buildVersion is the main module's version from the build information:
// a tag for `go install …@vX`, else "devel", with the VCS revision when the
// build recorded one.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
	}
	return v
}
