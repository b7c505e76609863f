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
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/mcpfleet/mcpfleet/adapters/cloudrun"
	"github.com/mcpfleet/mcpfleet/handler"
	"github.com/mcpfleet/mcpfleet/internal/config"
	"github.com/mcpfleet/mcpfleet/state"
	"github.com/redis/go-redis/v9"
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
	log := newLogger(cfg, stderr)
	version := buildVersion()
	instanceID := strings.ToLower(rand.Text()[:12])
	revision, _ := lookup("K_REVISION") // set by Cloud Run
	log = log.With("instance", instanceID)
	log.Info("mcpfleet: starting", "version", version, "config", cfg)

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
		client := redis.NewUniversalClient(ropts)
		defer client.Close()
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
	})
	if err != nil {
		log.Error("mcpfleet: creating the MCP handler", "err", err)
		return 1
	}
	defer h.Close()

	mux := http.NewServeMux()
	mux.Handle(mcpPath, limitConcurrency(h, cfg.MaxConcurrentRequests, app.stats))
	err = cloudrun.Run(ctx, &service{Handler: mux, mcp: h}, cloudrun.Options{
		Addr:          cfg.ListenAddr(),
		ShutdownGrace: cfg.ShutdownGrace,
		Ready:         h.Ready,
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
	mcp *handler.Handler
}

// Shutdown implements cloudrun.Shutdowner.
func (s *service) Shutdown(ctx context.Context) error { return s.mcp.Shutdown(ctx) }

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

// newLogger returns the process logger: JSON (Cloud Logging's field names)
// or text per LOG_FORMAT, at LOG_LEVEL.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	isTerminal := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil {
			isTerminal = fi.Mode()&os.ModeCharDevice != 0
		}
	}
	opts := &slog.HandlerOptions{Level: cfg.LogLevel.Slog()}
	if cfg.LogFormat.Resolve(isTerminal) == config.LogText {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	opts.ReplaceAttr = cloudLoggingAttr
	return slog.New(slog.NewJSONHandler(w, opts))
}

// cloudLoggingAttr renames slog's top-level keys to the ones Cloud Logging
// reads from a container's JSON lines (severity, message), so that levels
// and messages show up as such in the Logs Explorer.
func cloudLoggingAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.MessageKey:
		a.Key = "message"
	case slog.LevelKey:
		a.Key = "severity"
		if l, ok := a.Value.Any().(slog.Level); ok {
			switch {
			case l >= slog.LevelError:
				a.Value = slog.StringValue("ERROR")
			case l >= slog.LevelWarn:
				a.Value = slog.StringValue("WARNING")
			case l >= slog.LevelInfo:
				a.Value = slog.StringValue("INFO")
			default:
				a.Value = slog.StringValue("DEBUG")
			}
		}
	}
	return a
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
