package telemetry

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// redacted replaces every value this package will not write.
const redacted = "[REDACTED]"

// secretKey matches attribute keys (and JSON object keys, and environment
// variable names) whose values are treated as secrets.
var secretKey = regexp.MustCompile(`(?i)password|passwd|secret|token|key|authorization|credential|cookie`)

// secretEnvName additionally matches environment variables that hold
// credentials without saying so in their name (OTLP exporter headers carry
// API keys).
var secretEnvName = regexp.MustCompile(`(?i)^OTEL_EXPORTER_OTLP_(\w+_)?HEADERS$`)

// minSecretLen is the shortest environment value scrubbed from log text:
// shorter ones ("true", "30m") would mangle unrelated words.
const minSecretLen = 8

// redactor removes secrets from log attributes and messages: values of
// attributes whose key looks secret (unless allowed), and any occurrence of
// a secret found in the environment at start-up (the values of variables
// such as REDIS_PASSWORD, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
// MCP_STATE_KEY, and passwords in URLs such as REDIS_URL).
type redactor struct {
	allow    map[string]bool
	replacer *strings.Replacer // nil: no secret values known
}

func newRedactor(allow []string, environ []string) *redactor {
	r := &redactor{allow: make(map[string]bool, len(allow))}
	for _, k := range allow {
		r.allow[strings.ToLower(k)] = true
	}
	var secrets []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || value == "" {
			continue
		}
		if (secretKey.MatchString(name) || secretEnvName.MatchString(name)) && len(value) >= minSecretLen {
			secrets = append(secrets, value)
		}
		if secretEnvName.MatchString(name) {
			// "key1=value1,key2=value2", values URL-encoded: each value
			// is a secret on its own.
			for _, kv := range strings.Split(value, ",") {
				_, v, _ := strings.Cut(kv, "=")
				v = strings.TrimSpace(v)
				if dec, err := url.QueryUnescape(v); err == nil {
					v = dec
				}
				if len(v) >= minSecretLen {
					secrets = append(secrets, v)
				}
			}
		}
		if strings.Contains(value, "://") && strings.Contains(value, "@") {
			if u, err := url.Parse(value); err == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok && len(pw) >= 4 {
					secrets = append(secrets, pw, url.QueryEscape(pw), url.PathEscape(pw))
				}
			}
		}
	}
	if len(secrets) > 0 {
		// Longest first, so that a secret containing another is replaced whole.
		slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
		secrets = slices.Compact(secrets)
		pairs := make([]string, 0, 2*len(secrets))
		for _, s := range secrets {
			pairs = append(pairs, s, redacted)
		}
		r.replacer = strings.NewReplacer(pairs...)
	}
	return r
}

// secretKey reports whether values under key must be redacted.
func (r *redactor) isSecretKey(key string) bool {
	return secretKey.MatchString(key) && !r.allow[strings.ToLower(key)]
}

// scrub removes known secret values from s.
func (r *redactor) scrub(s string) string {
	if r.replacer == nil || s == "" {
		return s
	}
	return r.replacer.Replace(s)
}

// attrs returns as redacted copy of as.
func (r *redactor) attrs(as []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, 0, len(as))
	for _, a := range as {
		a = r.attr(a)
		if a.Equal(slog.Attr{}) {
			continue
		}
		out = append(out, a)
	}
	return out
}

func (r *redactor) attr(a slog.Attr) slog.Attr {
	a.Value = a.Value.Resolve()
	if a.Value.Kind() == slog.KindGroup {
		a.Value = slog.GroupValue(r.attrs(a.Value.Group())...)
		return a
	}
	if a.Key != "" && r.isSecretKey(a.Key) {
		a.Value = slog.StringValue(redacted)
		return a
	}
	switch a.Value.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(r.scrub(a.Value.String()))
	case slog.KindAny:
		a.Value = r.anyValue(a.Value.Any())
	}
	return a
}

// anyValue makes an arbitrary value safe: errors become their scrubbed
// message; other values are encoded to JSON with secret-looking object keys
// redacted and secret values scrubbed.
func (r *redactor) anyValue(v any) slog.Value {
	switch x := v.(type) {
	case nil:
		return slog.AnyValue(nil)
	case error:
		return slog.StringValue(r.scrub(x.Error()))
	case *httpRequestLog:
		return slog.AnyValue(x.scrubbed(r))
	case json.RawMessage:
		return slog.AnyValue(json.RawMessage(r.scrub(string(r.json(x)))))
	case []byte:
		return slog.StringValue(r.scrub(string(x)))
	}
	b, err := json.Marshal(v)
	if err != nil || !json.Valid(b) {
		return slog.StringValue(r.scrub(slog.AnyValue(v).String()))
	}
	if b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) == nil {
			return slog.StringValue(r.scrub(s))
		}
	}
	return slog.AnyValue(json.RawMessage(r.scrub(string(r.json(b)))))
}

// json redacts the values of secret-looking keys in the JSON document b, at
// any depth. b is returned unchanged when it is not JSON.
func (r *redactor) json(b []byte) []byte {
	if !bytes.ContainsAny(b, "{") {
		return b
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return b
	}
	if !r.jsonValue(v) {
		return b
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b
	}
	return out
}

// jsonValue redacts in place; it reports whether anything changed.
func (r *redactor) jsonValue(v any) bool {
	changed := false
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if r.isSecretKey(k) {
				x[k] = redacted
				changed = true
				continue
			}
			changed = r.jsonValue(e) || changed
		}
	case []any:
		for _, e := range x {
			changed = r.jsonValue(e) || changed
		}
	}
	return changed
}
