// Package telemetry gives an MCP server OpenTelemetry traces and metrics that
// follow the MCP semantic conventions, and a structured logger whose records
// are correlated with the traces on Cloud Run, Lambda or a developer machine.
//
// It holds no package-level state: everything hangs off the [Telemetry]
// that [New] returns, which the caller wires in where it wants:
//
//	tel, err := telemetry.New(ctx, telemetry.Options{ServiceName: "mcpfleet", ServiceVersion: version})
//	defer tel.Shutdown(shutdownCtx)
//	logger := tel.Logger()
//	server.AddReceivingMiddleware(tel.MCPMiddleware())   // MCP spans + mcp.server.operation.duration
//	tel.InstrumentRedis(redisClient)                       // redisotel spans + metrics
//	http.ListenAndServe(addr, tel.HTTPMiddleware(mux))     // otelhttp spans + metrics
//
// # Export
//
// Spans and metrics go where the standard OTEL_* variables say, through
// go.opentelemetry.io/contrib/exporters/autoexport: OTLP over HTTP/protobuf
// to OTEL_EXPORTER_OTLP_ENDPOINT (default localhost:4318) unless
// OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER choose console, prometheus or
// none. OTEL_SDK_DISABLED=true makes the providers no-ops. Start-up never
// waits for a collector; [Telemetry.Flush] and [Telemetry.Shutdown] wait at
// most until their context is done. On Lambda, HTTPMiddleware flushes after
// every request (the process may be frozen once the invocation returns).
//
// The resource carries service.name/version, a random service.instance.id,
// and, from environment variables only (no metadata server at start-up):
// on Cloud Run cloud.provider=gcp, cloud.platform=gcp_cloud_run, faas.name
// (K_SERVICE), faas.version (K_REVISION), cloud.account.id (the project),
// cloud.region (GOOGLE_CLOUD_REGION, if set); on Lambda cloud.provider=aws,
// cloud.platform=aws_lambda, faas.name, faas.version, faas.instance,
// faas.max_memory, cloud.region. OTEL_RESOURCE_ATTRIBUTES and
// OTEL_SERVICE_NAME override them.
//
// # Traces
//
// [Telemetry.HTTPMiddleware] makes an otelhttp SERVER span per HTTP request,
// child of the incoming W3C traceparent. [Telemetry.MCPMiddleware] makes a
// SERVER span per MCP request or notification, "tools/call get_weather",
// child of the trace context in params._meta when the client sent one (then
// linked to the HTTP span), else of the HTTP span of the request that carried
// the message. See MCPMiddleware for the attributes and error mapping.
//
// # Metrics
//
// mcp.server.operation.duration and mcp.server.session.duration (seconds,
// buckets 0.01 … 300 as the MCP conventions specify), otelhttp's
// http.server.*, redisotel's db.client.*, and the operator instruments of
// [Metrics]: mcpfleet.sse.active_streams, mcpfleet.deliveries
// (mcpfleet.delivery.kind), mcpfleet.store.errors and
// mcpfleet.store.operation.duration (mcpfleet.store.operation).
//
// # Logs
//
// [Telemetry.Logger] is a log/slog logger. Records logged with a context
// (InfoContext, …) carry the IDs of the span in it, and, inside an MCP
// request, its method, session and tool. Formats:
//
//   - Cloud Run: one JSON object per line on stdout in Cloud Logging's
//     structured-logging form: severity (DEBUG, INFO, NOTICE, WARNING, ERROR,
//     CRITICAL), message, timestamp (RFC 3339, UTC, nanoseconds),
//     logging.googleapis.com/trace ("projects/P/traces/T"; needs the project,
//     see Options.ProjectID), logging.googleapis.com/spanId,
//     logging.googleapis.com/trace_sampled, logging.googleapis.com/labels
//     (mcp.method.name, mcp.session.id, gen_ai.tool.name),
//     logging.googleapis.com/sourceLocation, httpRequest (an attribute made
//     with [HTTPRequest]), then the record's attributes.
//   - Lambda: one JSON object per line with timestamp, level (TRACE … FATAL),
//     message, requestId (from the Lambda context), trace_id, span_id.
//   - Local: slog-style JSON (time, level, msg, trace_id, span_id), or text
//     when LogFormat is text or auto on a terminal.
//
// A key of the record that the format writes itself is prefixed with "_"
// rather than written twice.
//
// # Secrets
//
// Attributes whose key contains password, passwd, secret, token, key,
// authorization, credential or cookie (case-insensitive, at any depth,
// including keys inside maps and structs logged as values) are written as
// "[REDACTED]" unless listed in Options.AllowKeys. Values of such
// environment variables (at least 8 characters), of
// OTEL_EXPORTER_OTLP_*HEADERS, and passwords in URLs found in the
// environment (REDIS_URL=redis://:pw@…) are replaced by "[REDACTED]"
// wherever they appear in a message, string, error or value. Tool arguments
// are never logged, and put on spans (gen_ai.tool.call.arguments, redacted
// the same way) only with Options.RecordArguments. Redis command arguments
// are not recorded.
package telemetry
