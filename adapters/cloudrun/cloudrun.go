// Package cloudrun runs an http.Handler the way Google Cloud Run expects a
// container to behave. It knows nothing about MCP.
//
// Run listens on $PORT (default 8080), answers the health endpoints in front of
// the handler, and drains on SIGTERM or SIGINT:
//
//   - GET /healthz is the liveness probe: 200 "ok" as long as the process
//     serves HTTP, also while draining (a draining instance must not be
//     restarted by its liveness probe).
//   - GET /readyz is the readiness/startup probe: it calls Options.Ready with a
//     short timeout and answers 503 with the reason when that fails, and 503
//     "draining" once shutdown began.
//
// On SIGTERM (Cloud Run sends it, then SIGKILL after 10 seconds) Run stops
// accepting connections, tells the handler to wind down if it implements
// Shutdowner (an MCP handler ends its open SSE streams with a retry hint so
// clients reconnect to another instance, and waits for running tool calls), and
// waits up to Options.ShutdownGrace for in-flight requests to finish. Run
// returns nil after a clean drain and an error when the grace period expired
// with requests still running, so a main function can map it to an exit code.
//
// Cloud Run's front end reserves URL paths ending in "z": external requests to
// /healthz and /readyz never reach the container, while Cloud Run's own probes
// do. Behind other load balancers (the local compose stack) both are reachable.
package cloudrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// Paths of the health endpoints served in front of the handler.
const (
	LivenessPath  = "/healthz"
	ReadinessPath = "/readyz"
)

// Defaults applied by Run to zero Options fields.
const (
	DefaultPort              = "8080"
	DefaultShutdownGrace     = 10 * time.Second
	DefaultReadyTimeout      = 2 * time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultIdleTimeout closes idle keep-alive connections. It is longer than
	// Google's front ends keep idle upstream connections (600s), so the front
	// end, not the server, closes them: a server that closes first races with a
	// request being sent on the same connection, which surfaces as a 502.
	DefaultIdleTimeout = 620 * time.Second
)

// Shutdowner is implemented by handlers that hold long-lived requests (SSE
// streams, running tool calls). Run calls Shutdown once, when draining begins,
// with a context that expires at the end of the grace period; the handler
// should end its streams so their requests return, and return when its work
// has finished or the context expired.
type Shutdowner interface {
	Shutdown(ctx context.Context) error
}

// Options configure Run. The zero value is usable.
type Options struct {
	// Addr is the TCP address to listen on. Default ":" + $PORT, and $PORT
	// defaults to 8080. Ignored when Listener is set.
	Addr string

	// Listener, if set, is served instead of listening on Addr (tests, socket
	// activation). Run closes it.
	Listener net.Listener

	// ShutdownGrace bounds the drain after SIGTERM: the time in-flight
	// requests and the handler's Shutdown get to finish. Default 10s, Cloud
	// Run's window between SIGTERM and SIGKILL.
	ShutdownGrace time.Duration

	// DrainDelay keeps the listener open after shutdown began while /readyz
	// already answers 503, for load balancers that poll readiness before they
	// stop routing (Kubernetes, HAProxy). It is part of ShutdownGrace. Cloud
	// Run stops routing new requests before SIGTERM: default 0.
	DrainDelay time.Duration

	// Ready is the readiness check behind /readyz (e.g. a Redis PING). Nil
	// means always ready.
	Ready func(ctx context.Context) error

	// ReadyTimeout bounds one Ready call. Default 2s; keep it below the
	// probe's own timeout.
	ReadyTimeout time.Duration

	// ReadHeaderTimeout bounds reading request headers (slowloris). Default
	// 10s. There is deliberately no ReadTimeout or WriteTimeout: they would
	// cut long request bodies and SSE response streams; handlers bound their
	// own work.
	ReadHeaderTimeout time.Duration

	// IdleTimeout closes idle keep-alive connections. Default
	// DefaultIdleTimeout.
	IdleTimeout time.Duration

	// MaxHeaderBytes bounds request headers. Default http.DefaultMaxHeaderBytes.
	MaxHeaderBytes int

	// Logger receives lifecycle events and http.Server errors. Default
	// slog.Default().
	Logger *slog.Logger

	// signals replaces signal.Notify in tests. When nil, Run listens for
	// SIGTERM and SIGINT.
	signals <-chan os.Signal
}

// ErrGraceExpired is wrapped by the error Run returns when requests were still
// running at the end of the grace period.
var ErrGraceExpired = errors.New("cloudrun: shutdown grace period expired")

// ErrDrainInterrupted is wrapped by the error Run returns when a second signal
// cut the drain short.
var ErrDrainInterrupted = errors.New("cloudrun: drain interrupted by a second signal")

// Run serves h until ctx is done or the process receives SIGTERM or SIGINT,
// then drains as described in the package documentation. It returns nil after
// a clean drain, ErrGraceExpired (wrapped) when the grace period expired with
// requests still running, an error when the handler's Shutdown failed, and any
// listen or serve error.
//
// Request contexts are not cancelled when ctx is: in-flight requests keep
// running during the drain. A second signal during the drain closes all
// connections at once and Run returns ErrDrainInterrupted (wrapped).
func Run(ctx context.Context, h http.Handler, opts Options) error {
	opts = opts.withDefaults()
	log := opts.Logger

	ln := opts.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", opts.Addr)
		if err != nil {
			return fmt.Errorf("cloudrun: listen: %w", err)
		}
	}

	sigs := opts.signals
	if sigs == nil {
		c := make(chan os.Signal, 2)
		signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
		defer signal.Stop(c)
		sigs = c
	}

	fh := &frontHandler{next: h, ready: opts.Ready, readyTimeout: opts.ReadyTimeout}
	srv := &http.Server{
		Handler:           fh,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// Keep the caller's context values (tracing, loggers) but not its
		// cancellation: cancelling ctx starts the drain, it must not abort
		// the requests the drain waits for.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("cloudrun: serving", "addr", ln.Addr().String())

	var reason string
	select {
	case err := <-serveErr:
		// Serve only returns early on a listener failure.
		return fmt.Errorf("cloudrun: serve: %w", err)
	case <-ctx.Done():
		reason = "context done"
	case s := <-sigs:
		reason = "signal " + s.String()
	}

	start := time.Now()
	fh.draining.Store(true)
	log.Info("cloudrun: draining", "reason", reason, "grace", opts.ShutdownGrace.String(),
		"in_flight", fh.inFlight.Load())

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.ShutdownGrace)
	defer cancel()

	// A second signal ends the drain at once.
	go func() {
		select {
		case s := <-sigs:
			log.Warn("cloudrun: second signal, closing connections", "signal", s.String())
			cancel()
		case <-sctx.Done():
		}
	}()

	// The handler's Shutdown runs alongside srv.Shutdown: it ends the
	// long-lived requests srv.Shutdown is waiting for.
	var handlerDone chan error
	if sd, ok := h.(Shutdowner); ok {
		handlerDone = make(chan error, 1)
		go func() { handlerDone <- sd.Shutdown(sctx) }()
	}

	if opts.DrainDelay > 0 {
		t := time.NewTimer(opts.DrainDelay)
		select {
		case <-t.C:
		case <-sctx.Done():
			t.Stop()
		}
	}

	shutdownErr := srv.Shutdown(sctx)
	<-serveErr // http.ErrServerClosed once Shutdown was called

	var errs []error
	if shutdownErr != nil {
		left := fh.inFlight.Load()
		_ = srv.Close()
		took := time.Since(start).Round(time.Millisecond)
		if errors.Is(shutdownErr, context.DeadlineExceeded) {
			errs = append(errs, fmt.Errorf("%w (%s) with %d request(s) still running",
				ErrGraceExpired, opts.ShutdownGrace, left))
		} else {
			errs = append(errs, fmt.Errorf("%w after %s with %d request(s) still running",
				ErrDrainInterrupted, took, left))
		}
	}
	if handlerDone != nil {
		select {
		case err := <-handlerDone:
			if err != nil {
				errs = append(errs, fmt.Errorf("cloudrun: handler shutdown: %w", err))
			}
		case <-sctx.Done():
			// The handler ignores its context; give it a moment, then stop
			// waiting rather than outlive the grace period.
			select {
			case err := <-handlerDone:
				if err != nil {
					errs = append(errs, fmt.Errorf("cloudrun: handler shutdown: %w", err))
				}
			case <-time.After(100 * time.Millisecond):
				errs = append(errs, errors.New("cloudrun: handler shutdown did not return within the grace period"))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		log.Error("cloudrun: drain incomplete", "err", err)
		return err
	}
	log.Info("cloudrun: drained", "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

func (o Options) withDefaults() Options {
	if o.Addr == "" {
		o.Addr = defaultAddr(os.Getenv)
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = DefaultShutdownGrace
	}
	if o.DrainDelay < 0 {
		o.DrainDelay = 0
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func defaultAddr(getenv func(string) string) string {
	port := getenv("PORT")
	if port == "" {
		port = DefaultPort
	}
	return ":" + port
}

// frontHandler answers the health endpoints and counts in-flight requests.
type frontHandler struct {
	next         http.Handler
	ready        func(context.Context) error
	readyTimeout time.Duration
	draining     atomic.Bool
	inFlight     atomic.Int64
}

func (f *frontHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case LivenessPath:
		if !healthMethod(w, r) {
			return
		}
		writeText(w, http.StatusOK, "ok")
	case ReadinessPath:
		if !healthMethod(w, r) {
			return
		}
		if f.draining.Load() {
			writeText(w, http.StatusServiceUnavailable, "draining")
			return
		}
		if f.ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), f.readyTimeout)
			err := f.ready(ctx)
			cancel()
			if err != nil {
				writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
				return
			}
		}
		writeText(w, http.StatusOK, "ready")
	default:
		f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
		f.next.ServeHTTP(w, r)
	}
}

func healthMethod(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeText(w, http.StatusMethodNotAllowed, "method not allowed")
	return false
}

func writeText(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body + "\n"))
}
