package telemetry

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The JSON formats are written by hand rather than by slog.JSONHandler so
// that the platform fields are exactly where and how the platforms read
// them: top level whatever groups the caller opened, no duplicate keys, and
// Cloud Logging's timestamp as an RFC 3339 string.
//
// cloud.google.com/go/logging's RedirectAsJSON was evaluated (v1.21.1) and
// not used: it writes "timestamp" as protobuf text ("seconds:… nanos:…"),
// which is not a format Cloud Logging parses; it nests a structured payload
// under "message" (jsonPayload.message becomes an object, so the log line
// has no summary text and attributes are not top-level jsonPayload fields);
// it emits an extra diagnostic entry (severity DEFAULT) on the first write
// of the process; and it needs a client (credentials or
// option.WithoutAuthentication plus a project) and the Google API client
// libraries for what is one JSON line per record.

// Cloud Logging's special fields,
// https://cloud.google.com/logging/docs/structured-logging#structured_logging_special_fields
const (
	gcpTrace          = "logging.googleapis.com/trace"
	gcpSpanID         = "logging.googleapis.com/spanId"
	gcpTraceSampled   = "logging.googleapis.com/trace_sampled"
	gcpLabels         = "logging.googleapis.com/labels"
	gcpSourceLocation = "logging.googleapis.com/sourceLocation"
	gcpHTTPRequest    = "httpRequest"
)

// cloudSeverity maps a slog level to a Cloud Logging LogSeverity.
func cloudSeverity(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelInfo+2:
		return "INFO"
	case l < slog.LevelWarn:
		return "NOTICE"
	case l < slog.LevelError:
		return "WARNING"
	case l < slog.LevelError+4:
		return "ERROR"
	}
	return "CRITICAL"
}

// lambdaLevel maps a slog level to the level names of Lambda's JSON log
// format (TRACE, DEBUG, INFO, WARN, ERROR, FATAL), which Lambda's log-level
// filtering reads.
func lambdaLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "TRACE"
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARN"
	case l < slog.LevelError+4:
		return "ERROR"
	}
	return "FATAL"
}

// appendCloudRun writes e as one line of Cloud Logging structured logging.
func (c *logCore) appendCloudRun(b []byte, e *entry) []byte {
	b = append(b, `{"severity":`...)
	b = appendString(b, cloudSeverity(e.level))
	b = append(b, `,"message":`...)
	b = appendString(b, e.message)
	if !e.time.IsZero() {
		b = append(b, `,"timestamp":`...)
		b = appendString(b, e.time.UTC().Format(time.RFC3339Nano))
	}
	if e.span.IsValid() {
		if c.project != "" {
			b = appendKey(b, gcpTrace)
			b = appendString(b, "projects/"+c.project+"/traces/"+e.span.TraceID().String())
			b = appendKey(b, gcpSpanID)
			b = appendString(b, e.span.SpanID().String())
			b = appendKey(b, gcpTraceSampled)
			b = strconv.AppendBool(b, e.span.IsSampled())
		} else {
			b = appendKey(b, "trace_id")
			b = appendString(b, e.span.TraceID().String())
			b = appendKey(b, "span_id")
			b = appendString(b, e.span.SpanID().String())
		}
	}
	if e.mcp != nil {
		b = appendKey(b, gcpLabels)
		b = append(b, '{')
		for i, a := range e.mcp.attrs() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, a.Key)
			b = append(b, ':')
			b = appendString(b, a.Value.String())
		}
		b = append(b, '}')
	}
	if file, line, fn := source(e.pc); file != "" {
		b = appendKey(b, gcpSourceLocation)
		b = append(b, `{"file":`...)
		b = appendString(b, file)
		b = append(b, `,"line":`...)
		b = appendString(b, strconv.Itoa(line))
		b = append(b, `,"function":`...)
		b = appendString(b, fn)
		b = append(b, '}')
	}
	attrs := e.attrs
	for i, a := range attrs {
		if l, ok := a.Value.Any().(*httpRequestLog); ok && a.Key == gcpHTTPRequest && a.Value.Kind() == slog.KindAny {
			b = appendKey(b, gcpHTTPRequest)
			b = appendAny(b, l)
			attrs = append(attrs[:i:i], attrs[i+1:]...)
			break
		}
	}
	b = appendAttrs(b, attrs, func(k string) bool {
		switch k {
		case "severity", "message", "timestamp", "time", "timestampSeconds", "timestampNanos", gcpHTTPRequest, "trace_id", "span_id":
			return true
		}
		return strings.HasPrefix(k, "logging.googleapis.com/")
	})
	return append(b, '}', '\n')
}

// appendLambda writes e as one JSON line with the keys of Lambda's JSON log
// format (timestamp, level, message, requestId) plus xrayTraceId (the Root
// of the invocation's X-Ray trace header), trace_id and span_id.
func (c *logCore) appendLambda(b []byte, e *entry) []byte {
	b = append(b, '{')
	if !e.time.IsZero() {
		b = append(b, `"timestamp":`...)
		b = appendString(b, e.time.UTC().Format(time.RFC3339Nano))
		b = append(b, ',')
	}
	b = append(b, `"level":`...)
	b = appendString(b, lambdaLevel(e.level))
	b = append(b, `,"message":`...)
	b = appendString(b, e.message)
	if e.requestID != "" {
		b = appendKey(b, "requestId")
		b = appendString(b, e.requestID)
	}
	if e.xrayTraceID != "" {
		b = appendKey(b, "xrayTraceId")
		b = appendString(b, e.xrayTraceID)
	}
	b = appendCommon(b, e)
	b = appendAttrs(b, e.attrs, func(k string) bool {
		switch k {
		case "timestamp", "level", "message", "requestId", "xrayTraceId":
			return true
		}
		return isCommonKey(k)
	})
	return append(b, '}', '\n')
}

// appendJSON writes e as one JSON line with slog's keys (time, level, msg).
func (c *logCore) appendJSON(b []byte, e *entry) []byte {
	b = append(b, '{')
	if !e.time.IsZero() {
		b = append(b, `"time":`...)
		b = appendString(b, e.time.Format(time.RFC3339Nano))
		b = append(b, ',')
	}
	b = append(b, `"level":`...)
	b = appendString(b, e.level.String())
	b = append(b, `,"msg":`...)
	b = appendString(b, e.message)
	if e.requestID != "" {
		b = appendKey(b, "requestId")
		b = appendString(b, e.requestID)
	}
	b = appendCommon(b, e)
	b = appendAttrs(b, e.attrs, func(k string) bool {
		switch k {
		case "time", "level", "msg", "requestId":
			return true
		}
		return isCommonKey(k)
	})
	return append(b, '}', '\n')
}

// appendCommon writes trace_id, span_id and the MCP attributes.
func appendCommon(b []byte, e *entry) []byte {
	if e.span.IsValid() {
		b = appendKey(b, "trace_id")
		b = appendString(b, e.span.TraceID().String())
		b = appendKey(b, "span_id")
		b = appendString(b, e.span.SpanID().String())
	}
	if e.mcp != nil {
		for _, a := range e.mcp.attrs() {
			b = appendKey(b, a.Key)
			b = appendString(b, a.Value.String())
		}
	}
	return b
}

func isCommonKey(k string) bool {
	switch k {
	case "trace_id", "span_id", string(keyMethodName), string(keySessionID), string(keyToolName):
		return true
	}
	return false
}

// appendKey writes `,"key":`.
func appendKey(b []byte, key string) []byte {
	b = append(b, ',')
	b = appendString(b, key)
	return append(b, ':')
}

// appendAttrs writes the top-level attributes; a key the format writes
// itself (reserved) is prefixed with "_" rather than duplicated.
func appendAttrs(b []byte, attrs []slog.Attr, reserved func(string) bool) []byte {
	for _, a := range attrs {
		if a.Key != "" && reserved(a.Key) {
			a.Key = "_" + a.Key
		}
		b = appendAttr(b, a, true)
	}
	return b
}

// appendAttr writes `"key":value`, preceded by a comma if comma is set.
// Empty attributes and empty groups write nothing.
func appendAttr(b []byte, a slog.Attr, comma bool) []byte {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		as := v.Group()
		if len(as) == 0 {
			return b
		}
		if a.Key == "" { // inline, as slog does
			for _, m := range as {
				n := len(b)
				b = appendAttr(b, m, comma)
				comma = comma || len(b) > n
			}
			return b
		}
		if comma {
			b = append(b, ',')
		}
		b = appendString(b, a.Key)
		b = append(b, ':', '{')
		n := len(b)
		for _, m := range as {
			b = appendAttr(b, m, len(b) > n)
		}
		return append(b, '}')
	}
	if a.Key == "" {
		return b
	}
	if comma {
		b = append(b, ',')
	}
	b = appendString(b, a.Key)
	b = append(b, ':')
	return appendValue(b, v)
}

func appendValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendString(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindFloat64:
		f := v.Float64()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return appendString(b, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		return appendString(b, v.Duration().String())
	case slog.KindTime:
		return appendString(b, v.Time().Format(time.RFC3339Nano))
	case slog.KindGroup:
		b = append(b, '{')
		n := len(b)
		for _, m := range v.Group() {
			b = appendAttr(b, m, len(b) > n)
		}
		return append(b, '}')
	}
	return appendAny(b, v.Any())
}

func appendAny(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case json.RawMessage:
		if json.Valid(x) {
			return append(b, x...)
		}
		return appendString(b, string(x))
	case error:
		return appendString(b, x.Error())
	}
	j, err := json.Marshal(v)
	if err != nil {
		return appendString(b, fmt.Sprintf("%+v", v))
	}
	return append(b, j...)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
