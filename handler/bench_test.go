package handler_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mcpfleet/mcpfleet/handler"
	"github.com/mcpfleet/mcpfleet/internal/redistest"
	"github.com/mcpfleet/mcpfleet/state"
	"github.com/mcpfleet/mcpfleet/telemetry"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// roundTrips counts Redis round trips (a command or a pipeline each); the
// pub/sub connection is not counted.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

func benchServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in struct {
		Text string `json:"text"`
	}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	return s
}

// callSession is one initialized legacy (2025-11-25) session over real
// HTTP on loopback.
type callSession struct {
	srv  *httptest.Server
	post func(body string) (*http.Response, error)
}

func newCallSession(tb testing.TB, h http.Handler) *callSession {
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return newCallSessionSrv(tb, srv)
}

func newCallSessionSrv(tb testing.TB, srv *httptest.Server) *callSession {
	client := srv.Client()
	var sid string
	post := func(body string) (*http.Response, error) {
		req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
		}
		return client.Do(req)
	}
	resp, err := post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`)
	if err != nil {
		tb.Fatal(err)
	}
	sid = resp.Header.Get("Mcp-Session-Id")
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	resp, err = post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if err != nil || resp.StatusCode != 202 {
		tb.Fatalf("initialized: %v", err)
	}
	resp.Body.Close()
	return &callSession{srv: srv, post: post}
}

// call makes one tools/call of the echo tool.
func (c *callSession) call(tb testing.TB) {
	if err := c.do(); err != nil {
		tb.Fatal(err)
	}
}

// do makes one tools/call of the echo tool, for goroutines that may not
// call Fatal.
func (c *callSession) do() error {
	resp, err := c.post(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"hello"`) {
		return fmt.Errorf("tools/call: %d %s", resp.StatusCode, body)
	}
	return nil
}

// benchToolsCall measures tools/call requests of one session through h.
func benchToolsCall(b *testing.B, h http.Handler, rt *roundTrips) {
	c := newCallSession(b, h)
	var before int64
	if rt != nil {
		before = rt.n.Load()
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		c.call(b)
	}
	b.StopTimer()
	// CPU time of the whole process (client, server, Redis excluded) per
	// call: steadier than wall time on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	if rt != nil {
		b.ReportMetric(float64(rt.n.Load()-before)/float64(b.N), "redis-rt/op")
	}
}

func goSDKHandler() http.Handler {
	s := benchServer()
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
}

func fleetHandler(b *testing.B, store state.Store) http.Handler {
	return fleetHandlerOpts(b, &handler.Options{Store: store})
}

func fleetHandlerOpts(b *testing.B, opts *handler.Options) http.Handler {
	h, err := handler.New(benchServer(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	return h
}

func redisStore(b *testing.B) (state.Store, *roundTrips) {
	srv := redistest.Start(b)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	rt := &roundTrips{}
	client.AddHook(rt)
	store := state.NewRedis(client, state.RedisOptions{})
	b.Cleanup(func() { store.Close(); client.Close() })
	return store, rt
}

// BenchmarkToolsCall compares a legacy tools/call through go-sdk's own
// in-memory stateful handler with mcpfleet's handler on the in-memory and
// the Redis store, same process, same tool.
func BenchmarkToolsCall(b *testing.B) {
	b.Run("go-sdk", func(b *testing.B) { benchToolsCall(b, goSDKHandler(), nil) })
	b.Run("mcpfleet-memory", func(b *testing.B) {
		benchToolsCall(b, fleetHandler(b, state.NewMemory(state.MemoryOptions{})), nil)
	})
	b.Run("mcpfleet-redis", func(b *testing.B) {
		store, rt := redisStore(b)
		benchToolsCall(b, fleetHandler(b, store), rt)
	})
	// Without the session cache: every request loads the session (one
	// pipelined round trip), as on an instance that has not served it yet.
	b.Run("mcpfleet-redis-nocache", func(b *testing.B) {
		store, rt := redisStore(b)
		benchToolsCall(b, fleetHandlerOpts(b, &handler.Options{Store: store, SessionCacheTTL: -1}), rt)
	})
}

// BenchmarkToolsCallRatio prints mcpfleet's throughput with Redis as a
// fraction of go-sdk's own in-memory handler, measured in alternating
// rounds of callsPerRound calls in this process, and the Redis round trips
// per call. Target: ratio >= 0.9, at most 1 round trip per call, none
// while the session did not change (the session cache).
// Run: go test -run '^$' -bench ToolsCallRatio -benchtime 5x ./handler/
func BenchmarkToolsCallRatio(b *testing.B) {
	const callsPerRound = 500
	store, rt := redisStore(b)
	sdk := newCallSession(b, goSDKHandler())
	fleet := newCallSession(b, fleetHandler(b, store))
	round := func(c *callSession) float64 {
		start := time.Now()
		for range callsPerRound {
			c.call(b)
		}
		return float64(time.Since(start).Nanoseconds()) / callsPerRound
	}
	round(sdk) // warm up both
	round(fleet)
	var sdkNs, fleetNs []float64
	var calls, trips int64
	for b.Loop() {
		sdkNs = append(sdkNs, round(sdk))
		before := rt.n.Load()
		fleetNs = append(fleetNs, round(fleet))
		trips += rt.n.Load() - before
		calls += callsPerRound
	}
	ratio := median(sdkNs) / median(fleetNs)
	perCall := float64(trips) / float64(calls)
	b.ReportMetric(ratio, "throughput-ratio")
	b.ReportMetric(perCall, "redis-rt/call")
	fmt.Printf("tools/call: go-sdk %.0f ns/call, mcpfleet+redis %.0f ns/call: throughput ratio %.2f; %.2f Redis round trips per call\n",
		median(sdkNs), median(fleetNs), ratio, perCall)
}

// cpuTime is the user and system CPU time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

// telemetryHandler is the fleet handler wired the way cmd/mcpfleet wires
// it: handler metrics, MCPMiddleware added after handler.New, HTTPMiddleware
// around it. Its store is newStore's (given the telemetry, to instrument a
// Redis client), or an in-memory one when newStore is nil.
func telemetryHandler(b *testing.B, opts telemetry.Options, newStore func(*telemetry.Telemetry) state.Store) http.Handler {
	opts.LogWriter = io.Discard
	tel, err := telemetry.New(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tel.Shutdown(ctx)
	})
	server := benchServer()
	var store state.Store
	if newStore != nil {
		store = newStore(tel)
	} else {
		mem := state.NewMemory(state.MemoryOptions{})
		b.Cleanup(func() { mem.Close() })
		store = mem
	}
	h, err := handler.New(server, &handler.Options{Store: store, Logger: tel.Logger(), Metrics: tel.Metrics()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	server.AddReceivingMiddleware(tel.MCPMiddleware())
	return tel.HTTPMiddleware(h)
}

// clearTelemetryEnv keeps the machine's OTEL_* and platform variables out
// of a telemetry benchmark.
func clearTelemetryEnv(b *testing.B) {
	for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "K_SERVICE", "AWS_LAMBDA_FUNCTION_NAME"} {
		b.Setenv(k, "")
	}
}

// BenchmarkToolsCallTelemetry measures a legacy tools/call over the
// in-memory store with telemetry off (no middleware, no handler metrics),
// disabled (OTEL_SDK_DISABLED=true: everything installed, no-op providers)
// and sampled (every span recorded and exported to memory, the exporter
// emptied as it fills; metrics aggregated for a manual reader), and prints
// the throughput of disabled and sampled as fractions of off.
func BenchmarkToolsCallTelemetry(b *testing.B) {
	clearTelemetryEnv(b)
	// ns/op of every run of each sub-benchmark (-count runs them repeatedly).
	nsPerOp := map[string][]float64{}
	cpuPerOp := map[string][]float64{}
	var cpu0 time.Duration
	record := func(b *testing.B, name string) {
		if b.N > 0 {
			nsPerOp[name] = append(nsPerOp[name], float64(b.Elapsed().Nanoseconds())/float64(b.N))
			cpuPerOp[name] = append(cpuPerOp[name], float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N))
		}
	}
	start := func() { cpu0 = cpuTime() }
	b.Run("off", func(b *testing.B) {
		h := fleetHandler(b, state.NewMemory(state.MemoryOptions{}))
		start()
		benchToolsCall(b, h, nil)
		record(b, "off")
	})
	b.Run("disabled", func(b *testing.B) {
		b.Setenv("OTEL_SDK_DISABLED", "true")
		h := telemetryHandler(b, telemetry.Options{ServiceName: "bench"}, nil)
		start()
		benchToolsCall(b, h, nil)
		record(b, "disabled")
	})
	b.Run("sampled", func(b *testing.B) {
		b.Setenv("OTEL_TRACES_SAMPLER", "always_on")
		spans := tracetest.NewInMemoryExporter()
		h := telemetryHandler(b, telemetry.Options{ServiceName: "bench", SpanExporter: spans, MetricReader: sdkmetric.NewManualReader()}, nil)
		// Keep the exported spans from piling up over a long run.
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					spans.Reset()
				}
			}
		}()
		start()
		benchToolsCall(b, h, nil)
		close(stop)
		<-done
		record(b, "sampled")
	})
	if len(nsPerOp["off"]) == 0 || len(nsPerOp["disabled"]) == 0 || len(nsPerOp["sampled"]) == 0 {
		return // some were filtered out by -bench
	}
	off, disabled, sampled := median(nsPerOp["off"]), median(nsPerOp["disabled"]), median(nsPerOp["sampled"])
	fmt.Printf("tools/call with telemetry (median of %d runs): off %.0f ns/op, disabled %.0f ns/op, sampled %.0f ns/op; throughput vs off: disabled %.2f, sampled %.2f\n",
		len(nsPerOp["off"]), off, disabled, sampled, off/disabled, off/sampled)
	coff, cdisabled, csampled := median(cpuPerOp["off"]), median(cpuPerOp["disabled"]), median(cpuPerOp["sampled"])
	fmt.Printf("CPU per call: off %.0f ns, disabled %.0f ns, sampled %.0f ns; CPU-bound throughput vs off: disabled %.2f, sampled %.2f\n",
		coff, cdisabled, csampled, coff/cdisabled, coff/csampled)
}

// BenchmarkToolsCallTelemetryRatio is the telemetry issue's measure: the
// sessions benchmark's legacy tools/call through the handler with Redis,
// with telemetry off (no middleware, no handler metrics), disabled
// (OTEL_SDK_DISABLED=true: everything installed, no-op providers) and
// sampled (always_on sampler, every span exported to a discarding exporter,
// Redis instrumented, metrics aggregated for a manual reader). "one-session"
// makes one session's calls in sequence, as the sessions benchmark does, so
// throughput is the inverse of latency; "load" has four sessions per CPU
// calling concurrently through one server, so throughput is what the
// machine sustains. Each b.N is one round of each set-up, in turn, so that
// drift of the machine hits all three alike; a round's throughput and
// process CPU time per call are divided by those of the off round beside
// it, and the median and quartiles of these ratios are printed.
// Target: sampled >= 0.9, disabled about 1.
// Run: go test -run '^$' -bench ToolsCallTelemetryRatio -benchtime 60x ./handler/
func BenchmarkToolsCallTelemetryRatio(b *testing.B) {
	b.Run("one-session", func(b *testing.B) { benchTelemetryRatio(b, 1, 200) })
	b.Run("load", func(b *testing.B) { benchTelemetryRatio(b, 4*runtime.GOMAXPROCS(0), 25) })
}

// benchTelemetryRatio runs BenchmarkToolsCallTelemetryRatio's rounds: each
// of sessions sessions makes callsPerSession calls per round.
func benchTelemetryRatio(b *testing.B, sessions, callsPerSession int) {
	clearTelemetryEnv(b)
	rs := redistest.Start(b)
	newStore := func(tel *telemetry.Telemetry) state.Store {
		client := redis.NewClient(&redis.Options{Addr: rs.Addr()})
		if tel != nil {
			if err := tel.InstrumentRedis(client); err != nil {
				b.Fatal(err)
			}
		}
		store := state.NewRedis(client, state.RedisOptions{})
		b.Cleanup(func() { store.Close(); client.Close() })
		return store
	}
	type variant struct {
		name     string
		sessions []*callSession
		wall     []float64 // ns per call, per round
		cpu      []float64
	}
	newVariant := func(name string, h http.Handler) *variant {
		srv := httptest.NewServer(h)
		b.Cleanup(srv.Close)
		v := &variant{name: name}
		for range sessions {
			v.sessions = append(v.sessions, newCallSessionSrv(b, srv))
		}
		return v
	}
	off := newVariant("off", fleetHandler(b, newStore(nil)))
	b.Setenv("OTEL_SDK_DISABLED", "true")
	disabled := newVariant("disabled", telemetryHandler(b, telemetry.Options{ServiceName: "bench"}, newStore))
	b.Setenv("OTEL_SDK_DISABLED", "")
	b.Setenv("OTEL_TRACES_SAMPLER", "always_on")
	sampled := newVariant("sampled", telemetryHandler(b, telemetry.Options{ServiceName: "bench", SpanExporter: tracetest.NewNoopExporter(), MetricReader: sdkmetric.NewManualReader()}, newStore))
	variants := []*variant{off, disabled, sampled}

	round := func(v *variant) (wall, cpu float64) {
		cpu0, start := cpuTime(), time.Now()
		var wg sync.WaitGroup
		for _, c := range v.sessions {
			wg.Go(func() {
				for range callsPerSession {
					if err := c.do(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		n := float64(len(v.sessions) * callsPerSession)
		return float64(time.Since(start).Nanoseconds()) / n, float64((cpuTime() - cpu0).Nanoseconds()) / n
	}
	for _, v := range variants {
		round(v) // warm up
	}
	for b.Loop() {
		for _, v := range variants {
			w, c := round(v)
			v.wall = append(v.wall, w)
			v.cpu = append(v.cpu, c)
		}
	}
	// ratios returns the median and quartiles of off's figure over v's,
	// round by round.
	ratios := func(offs, vs []float64) (q1, med, q3 float64) {
		r := make([]float64, len(vs))
		for i := range vs {
			r[i] = offs[i] / vs[i]
		}
		sort.Float64s(r)
		at := func(f float64) float64 { return r[int(f*float64(len(r)-1)+0.5)] }
		return at(0.25), at(0.5), at(0.75)
	}
	fmt.Printf("tools/call with Redis, %d concurrent session(s), %d alternating rounds:\n", len(off.sessions), len(off.wall))
	for _, v := range variants {
		w1, w, w3 := ratios(off.wall, v.wall)
		c1, c, c3 := ratios(off.cpu, v.cpu)
		fmt.Printf("  %-8s %4.0f µs/call (throughput vs off %.2f, quartiles %.2f–%.2f)  %4.0f CPU µs/call (vs off %.2f, %.2f–%.2f)\n",
			v.name, median(v.wall)/1e3, w, w1, w3, median(v.cpu)/1e3, c, c1, c3)
		if v != off {
			b.ReportMetric(w, v.name+"-ratio")
		}
	}
}
