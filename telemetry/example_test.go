package telemetry_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/mcpfleet/mcpfleet/telemetry"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// A server traced and measured in memory: one SERVER span per MCP message,
// and the tool sees its span in its context.
func Example() {
	spans := tracetest.NewInMemoryExporter()
	tel, err := telemetry.New(context.Background(), telemetry.Options{
		ServiceName:  "weather",
		Platform:     telemetry.PlatformLocal,
		LogWriter:    io.Discard,
		SpanExporter: spans, // nil: OTLP (or whatever OTEL_TRACES_EXPORTER says)
	})
	if err != nil {
		log.Fatal(err)
	}
	defer tel.Shutdown(context.Background())

	server := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "get_weather"}, func(ctx context.Context, _ *mcp.CallToolRequest, in struct {
		City string `json:"city"`
	}) (*mcp.CallToolResult, any, error) {
		trace.SpanFromContext(ctx).AddEvent("looked up " + in.City) // the tools/call span
		tel.Logger().InfoContext(ctx, "forecast", "city", in.City)  // carries trace and span IDs
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sunny"}}}, nil, nil
	})
	server.AddReceivingMiddleware(tel.MCPMiddleware())

	st, ct := mcp.NewInMemoryTransports()
	ss, _ := server.Connect(context.Background(), st, nil)
	cs, _ := mcp.NewClient(&mcp.Implementation{Name: "client"}, nil).Connect(context.Background(), ct,
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	_, _ = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_weather", Arguments: map[string]any{"city": "Paris"}})
	cs.Close()
	ss.Wait()

	_ = tel.Flush(context.Background())
	var names []string
	for _, s := range spans.GetSpans() {
		names = append(names, fmt.Sprintf("%s (%s)", s.Name, s.SpanKind))
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Println(n)
	}
	// Output:
	// initialize (server)
	// notifications/initialized (server)
	// tools/call get_weather (server)
}

// How a binary wires it: exporters from OTEL_* variables, the platform's log
// format, the HTTP and MCP middleware, Redis instrumentation, and a bounded
// shutdown.
func Example_binary() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tel, err := telemetry.New(ctx, telemetry.Options{ServiceName: "mcpfleet", ServiceVersion: "1.0.0"})
	if err != nil {
		log.Fatal(err)
	}
	tel.SetGlobal() // otel.Tracer(...) in tool code uses these providers
	logger := tel.Logger()

	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:6379"}})
	if err := tel.InstrumentRedis(rdb); err != nil {
		logger.Warn("redis instrumentation", "err", err)
	}

	server := mcp.NewServer(&mcp.Implementation{Name: "mcpfleet"}, &mcp.ServerOptions{Logger: logger})
	server.AddReceivingMiddleware(tel.MCPMiddleware())

	mux := http.NewServeMux()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: tel.HTTPMiddleware(mux)}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		_ = tel.Shutdown(shutdownCtx) // flushes the last spans and metrics
	}()
	_ = srv.ListenAndServe
}

// Operator metrics from a handler: a nil *Metrics records nothing.
func ExampleMetrics() {
	tel, _ := telemetry.New(context.Background(), telemetry.Options{
		LogWriter:    io.Discard,
		SpanExporter: tracetest.NewInMemoryExporter(), // nil: from OTEL_* variables
		MetricReader: sdkmetric.NewManualReader(),
	})
	defer tel.Shutdown(context.Background())
	m := tel.Metrics()
	ctx := context.Background()

	closed := m.StreamOpened(ctx) // mcpfleet.sse.active_streams +1
	defer closed()                // -1

	done := m.StoreOp(ctx, "load_session") // mcpfleet.store.operation.duration (+ errors)
	var err error                          // = store.LoadSession(ctx, sid, ttl)
	done(err)

	m.Delivered(ctx, telemetry.DeliveryEventReplayed, 3)  // mcpfleet.deliveries
	m.SessionEnded(ctx, 12*time.Minute, "2025-11-25", "") // mcp.server.session.duration
	fmt.Println(telemetry.MetricDeliveries, telemetry.AttrDeliveryKind)
	// Output: mcpfleet.deliveries mcpfleet.delivery.kind
}
