package telemetry

import (
	"context"
	"encoding/hex"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// lambdaTraceKey is the context key under which aws-lambda-go stores the
// invocation's X-Ray trace header (Lambda-Runtime-Trace-Id).
const lambdaTraceKey = "x-amzn-trace-id"

// xrayHeader returns the invocation's X-Ray trace header
// ("Root=1-…;Parent=…;Sampled=…") from a Lambda context, or "".
func xrayHeader(ctx context.Context) string {
	v, _ := ctx.Value(lambdaTraceKey).(string)
	return v
}

// xrayRoot returns the Root of an X-Ray trace header ("1-5759e988-bd86…"),
// as X-Ray and CloudWatch show it, or "".
func xrayRoot(header string) string {
	for _, part := range strings.Split(header, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && k == "Root" {
			return v
		}
	}
	return ""
}

// xraySpanContext converts an X-Ray trace header to a span context: the
// trace ID is the Root's epoch and unique parts, the span ID its Parent.
func xraySpanContext(header string) (trace.SpanContext, bool) {
	var tid trace.TraceID
	var sid trace.SpanID
	var sampled, haveRoot, haveParent bool
	for _, part := range strings.Split(header, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "Root":
			fields := strings.Split(v, "-")
			if len(fields) != 3 || fields[0] != "1" || len(fields[1]) != 8 || len(fields[2]) != 24 {
				return trace.SpanContext{}, false
			}
			b, err := hex.DecodeString(fields[1] + fields[2])
			if err != nil {
				return trace.SpanContext{}, false
			}
			copy(tid[:], b)
			haveRoot = true
		case "Parent":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != 8 {
				return trace.SpanContext{}, false
			}
			copy(sid[:], b)
			haveParent = true
		case "Sampled":
			sampled = v == "1"
		}
	}
	if !haveRoot || !haveParent {
		return trace.SpanContext{}, false
	}
	var flags trace.TraceFlags
	if sampled {
		flags = trace.FlagsSampled
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true})
	return sc, sc.IsValid()
}

// annotateLambda adds what identifies a Lambda invocation to the HTTP
// server span: faas.invocation_id (the request ID), aws.lambda.invoked_arn,
// faas.trigger, and a link to the invocation's X-Ray trace, as the FaaS
// semantic conventions advise when X-Ray is not the propagator.
func annotateLambda(ctx context.Context, span trace.Span) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(semconv.FaaSTriggerHTTP)
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc != nil {
		span.SetAttributes(semconv.FaaSInvocationID(lc.AwsRequestID))
		if lc.InvokedFunctionArn != "" {
			span.SetAttributes(semconv.AWSLambdaInvokedARN(lc.InvokedFunctionArn))
		}
	}
	if sc, ok := xraySpanContext(xrayHeader(ctx)); ok {
		span.AddLink(trace.Link{SpanContext: sc})
	}
}
