// Package config reads mcpfleet's configuration from the environment and
// validates it at start-up.
//
// It uses github.com/caarlos0/env/v11 for the mechanics (struct tags with
// variable names and defaults, typed parsing, encoding.TextUnmarshaler). It was
// picked over github.com/sethvargo/go-envconfig because it keeps parsing after
// the first bad value and returns every parse problem at once (an
// AggregateError), which is what an operator fixing a deployment wants; it has
// no dependencies and is widely used. Everything the library cannot express
// (ranges, URL schemes, relations between variables, files that must exist)
// is checked here, and Load reports all problems, parse and validation alike,
// as one *Error with one line per problem.
//
// Secrets (REDIS_PASSWORD, MCP_STATE_KEY, the password inside REDIS_URL) have
// types whose String, GoString, MarshalText and LogValue are redacted, and
// Config itself prints as Redacted(), so logging the configuration is safe.
package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Config is the validated configuration. Use Load or FromEnv to obtain one.
type Config struct {
	// ServerName is the MCP server name reported to clients.
	ServerName string `env:"MCP_SERVER_NAME" envDefault:"mcpfleet"`
	// Port is the TCP port to listen on (Cloud Run sets PORT).
	Port int `env:"PORT" envDefault:"8080"`
	// Addr, when set, is the host:port to listen on and overrides Port.
	Addr string `env:"MCP_ADDR"`

	// RedisURL selects shared state: empty means in-memory (one instance
	// only); redis:// or rediss:// (TLS) otherwise.
	RedisURL SecretURL `env:"REDIS_URL"`
	// RedisPassword is the AUTH password when it is not in RedisURL.
	RedisPassword Secret `env:"REDIS_PASSWORD"`
	// RedisTLSCAFile is a PEM file with the CA(s) that sign the Redis server
	// certificate (managed Redis with a private CA). Needs rediss://.
	RedisTLSCAFile string `env:"REDIS_TLS_CA_FILE"`
	// RedisPasswordSecretARN names an AWS Secrets Manager secret whose value
	// is the AUTH password (AWS Lambda): read at the first connection, not
	// at start-up, and never put in the environment.
	RedisPasswordSecretARN string `env:"REDIS_PASSWORD_SECRET_ARN"`
	// RedisMode is single, cluster or sentinel.
	RedisMode RedisMode `env:"REDIS_MODE" envDefault:"single"`
	// RedisSentinelMaster is the Sentinel master name (sentinel mode only).
	RedisSentinelMaster string `env:"REDIS_SENTINEL_MASTER"`

	// SessionTTL is how long an idle legacy (stateful) session is kept.
	SessionTTL time.Duration `env:"MCP_SESSION_TTL" envDefault:"30m"`
	// RequestTimeout bounds one request, in particular a tool call.
	RequestTimeout time.Duration `env:"MCP_REQUEST_TIMEOUT" envDefault:"5m"`
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes ByteSize `env:"MCP_MAX_BODY_BYTES" envDefault:"4MiB"`
	// MaxConcurrentRequests bounds requests served at once by one instance
	// (0 = unlimited). Cloud Run's per-instance concurrency limit is 1000.
	MaxConcurrentRequests int `env:"MCP_MAX_CONCURRENT_REQUESTS" envDefault:"1000"`
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// besides requests without Origin and same-origin requests.
	AllowedOrigins []string `env:"MCP_ALLOWED_ORIGINS" envSeparator:","`

	// LogLevel is debug, info, warn or error.
	LogLevel LogLevel `env:"LOG_LEVEL" envDefault:"info"`
	// LogFormat is auto (JSON unless stderr is a terminal), json or text.
	LogFormat LogFormat `env:"LOG_FORMAT" envDefault:"auto"`

	// LambdaInvokeMode is the function URL's invoke mode on AWS Lambda:
	// RESPONSE_STREAM (SSE streams) or BUFFERED (JSON answers, polled GET
	// streams). Ignored elsewhere.
	LambdaInvokeMode string `env:"LAMBDA_INVOKE_MODE" envDefault:"RESPONSE_STREAM"`

	// ShutdownGrace is the drain budget after SIGTERM.
	ShutdownGrace time.Duration `env:"SHUTDOWN_GRACE" envDefault:"10s"`

	// StateKey is the base64 encoding of a 32-byte key shared by all
	// instances for sealing MRTR requestState. Use StateKeyBytes.
	StateKey Secret `env:"MCP_STATE_KEY"`

	// ErrorRateDegraded is the error ratio above which health reports
	// "degraded", in (0, 1].
	ErrorRateDegraded float64 `env:"MCP_ERROR_RATE_DEGRADED" envDefault:"0.1"`

	stateKey secretBytes    // decoded StateKey
	redisCAs *x509.CertPool // parsed RedisTLSCAFile
}

// FromEnv loads the configuration from the process environment.
func FromEnv() (*Config, error) { return Load(os.LookupEnv) }

// Load reads every variable through lookup (os.LookupEnv in production, a
// map in tests), applies defaults, and validates the result. An empty value
// counts as unset. On failure it returns a *Error listing every problem.
func Load(lookup func(string) (string, bool)) (*Config, error) {
	fields := fieldIndex()
	values := make(map[string]string, len(fields))
	for _, f := range fields {
		if v, ok := lookup(f.key); ok {
			values[f.key] = v
		}
	}

	var c Config
	p := &problems{}
	failed := map[string]bool{}
	if err := env.ParseWithOptions(&c, env.Options{Environment: values}); err != nil {
		var agg env.AggregateError
		if !errors.As(err, &agg) {
			agg.Errors = []error{err}
		}
		for _, e := range agg.Errors {
			key, msg := describeParseError(e, fields, values)
			failed[key] = true
			p.add(key, msg)
		}
	}
	c.validate(p, failed)
	if err := p.err(fields); err != nil {
		return nil, err
	}
	return &c, nil
}

// ListenAddr is MCP_ADDR when set, else ":" + PORT.
func (c *Config) ListenAddr() string {
	if c.Addr != "" {
		return c.Addr
	}
	return ":" + strconv.Itoa(c.Port)
}

// UsesRedis reports whether REDIS_URL is set (shared state) rather than
// in-memory state.
func (c *Config) UsesRedis() bool { return c.RedisURL != "" }

// StateKeyBytes returns the decoded 32-byte MCP_STATE_KEY, or nil when it is
// not set (the caller then uses a per-process key, which only works with one
// instance).
func (c *Config) StateKeyBytes() []byte {
	if c.stateKey == nil {
		return nil
	}
	return append([]byte(nil), c.stateKey...)
}

// validate checks what parsing cannot. Keys in failed did not parse and are
// not checked again.
func (c *Config) validate(p *problems, failed map[string]bool) {
	ok := func(key string) bool { return !failed[key] }

	if ok("MCP_SERVER_NAME") {
		c.ServerName = strings.TrimSpace(c.ServerName)
		switch {
		case c.ServerName == "":
			p.add("MCP_SERVER_NAME", "must not be blank")
		case len(c.ServerName) > 128:
			p.add("MCP_SERVER_NAME", "longer than 128 characters")
		}
	}
	if ok("PORT") && (c.Port < 1 || c.Port > 65535) {
		p.add("PORT", fmt.Sprintf("%d is not a TCP port (1-65535)", c.Port))
	}
	if c.Addr != "" {
		host, port, err := net.SplitHostPort(c.Addr)
		n, perr := strconv.Atoi(port)
		switch {
		case err != nil:
			p.add("MCP_ADDR", fmt.Sprintf("%q is not host:port (e.g. :8080, 127.0.0.1:8080, [::1]:8080)", c.Addr))
		case perr != nil || n < 0 || n > 65535:
			p.add("MCP_ADDR", fmt.Sprintf("port %q is not a TCP port (0-65535)", port))
		case strings.ContainsAny(host, " /"):
			p.add("MCP_ADDR", fmt.Sprintf("host %q is not a host name or IP address", host))
		}
	}

	c.validateRedis(p, ok)

	positive := func(key string, d time.Duration) {
		if ok(key) && d <= 0 {
			p.add(key, fmt.Sprintf("must be positive, got %s", d))
		}
	}
	positive("MCP_SESSION_TTL", c.SessionTTL)
	positive("MCP_REQUEST_TIMEOUT", c.RequestTimeout)
	positive("SHUTDOWN_GRACE", c.ShutdownGrace)
	if ok("MCP_SESSION_TTL") && c.SessionTTL > 0 && c.SessionTTL < time.Minute {
		p.add("MCP_SESSION_TTL", fmt.Sprintf("%s is shorter than the 1m minimum", c.SessionTTL))
	}
	if ok("MCP_MAX_BODY_BYTES") && (c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 1<<30) {
		p.add("MCP_MAX_BODY_BYTES", fmt.Sprintf("%s is outside 1KiB-1GiB", c.MaxBodyBytes))
	}
	if ok("MCP_MAX_CONCURRENT_REQUESTS") && c.MaxConcurrentRequests < 0 {
		p.add("MCP_MAX_CONCURRENT_REQUESTS", fmt.Sprintf("%d is negative (0 means unlimited)", c.MaxConcurrentRequests))
	}
	if ok("MCP_ALLOWED_ORIGINS") {
		var origins []string
		for _, o := range c.AllowedOrigins {
			o = strings.TrimSpace(o)
			if o == "" {
				continue
			}
			norm, err := normalizeOrigin(o)
			if err != nil {
				p.add("MCP_ALLOWED_ORIGINS", fmt.Sprintf("%q: %v", o, err))
				continue
			}
			origins = append(origins, norm)
		}
		c.AllowedOrigins = origins
	}
	if ok("MCP_ERROR_RATE_DEGRADED") && !(c.ErrorRateDegraded > 0 && c.ErrorRateDegraded <= 1) {
		p.add("MCP_ERROR_RATE_DEGRADED", fmt.Sprintf("%v is outside (0, 1]", c.ErrorRateDegraded))
	}
	switch m := strings.ToUpper(strings.TrimSpace(c.LambdaInvokeMode)); m {
	case "RESPONSE_STREAM", "BUFFERED":
		c.LambdaInvokeMode = m
	default:
		p.add("LAMBDA_INVOKE_MODE", fmt.Sprintf("%q is not RESPONSE_STREAM or BUFFERED (the function URL's invoke mode)", c.LambdaInvokeMode))
	}
	if c.StateKey != "" {
		key, err := decodeKey(string(c.StateKey))
		if err != nil {
			p.add("MCP_STATE_KEY", err.Error()) // never the value
		} else {
			c.stateKey = key
		}
	}
}

func (c *Config) validateRedis(p *problems, ok func(string) bool) {
	if c.RedisURL == "" {
		// In-memory state: Redis-only settings are a sign of a forgotten URL.
		for key, set := range map[string]bool{
			"REDIS_PASSWORD":            c.RedisPassword != "",
			"REDIS_PASSWORD_SECRET_ARN": c.RedisPasswordSecretARN != "",
			"REDIS_TLS_CA_FILE":         c.RedisTLSCAFile != "",
			"REDIS_SENTINEL_MASTER":     c.RedisSentinelMaster != "",
			"REDIS_MODE":                ok("REDIS_MODE") && c.RedisMode != RedisSingle,
		} {
			if set {
				p.add(key, "is set but REDIS_URL is empty (in-memory state); set REDIS_URL or unset it")
			}
		}
		return
	}
	u, err := url.Parse(string(c.RedisURL))
	if err != nil {
		p.add("REDIS_URL", "is not a valid URL") // url errors quote the URL, password included
		return
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		p.add("REDIS_URL", fmt.Sprintf("scheme %q is not redis:// or rediss:// (TLS)", u.Scheme))
		return
	}
	if u.Host == "" {
		p.add("REDIS_URL", "has no host")
	}
	q := u.Query()
	if q.Has("skip_verify") {
		p.add("REDIS_URL", "skip_verify is not allowed: give the server's CA in REDIS_TLS_CA_FILE instead")
	}
	if q.Has("password") {
		p.add("REDIS_URL", "password= in the query is not allowed: use REDIS_PASSWORD")
	}
	_, urlHasPassword := u.User.Password()
	if ok("REDIS_MODE") && c.RedisMode != RedisSentinel && urlHasPassword && c.RedisPassword != "" {
		p.add("REDIS_PASSWORD", "is set and REDIS_URL also has a password: keep one")
	}
	if arn := c.RedisPasswordSecretARN; arn != "" {
		switch {
		case c.RedisPassword != "" || urlHasPassword:
			p.add("REDIS_PASSWORD_SECRET_ARN", "is set and so is a password (REDIS_PASSWORD or in REDIS_URL): keep one")
		case !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":secretsmanager:") || !strings.Contains(arn, ":secret:"):
			p.add("REDIS_PASSWORD_SECRET_ARN", fmt.Sprintf("%q is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)", arn))
		}
	}
	if c.RedisTLSCAFile != "" {
		if u.Scheme != "rediss" {
			p.add("REDIS_TLS_CA_FILE", "is set but REDIS_URL does not use rediss:// (TLS)")
		}
		pool, err := loadCAs(c.RedisTLSCAFile)
		if err != nil {
			p.add("REDIS_TLS_CA_FILE", err.Error())
		} else {
			c.redisCAs = pool
		}
	}
	if !ok("REDIS_MODE") {
		return
	}
	switch c.RedisMode {
	case RedisSentinel:
		if c.RedisSentinelMaster == "" && q.Get("master_name") == "" {
			p.add("REDIS_SENTINEL_MASTER", "is required when REDIS_MODE=sentinel")
		}
		if c.RedisSentinelMaster != "" && q.Get("master_name") != "" && q.Get("master_name") != c.RedisSentinelMaster {
			p.add("REDIS_SENTINEL_MASTER", "differs from master_name in REDIS_URL")
		}
	default:
		if c.RedisSentinelMaster != "" {
			p.add("REDIS_SENTINEL_MASTER", fmt.Sprintf("is set but REDIS_MODE=%s (want sentinel)", c.RedisMode))
		}
	}
	if c.RedisMode == RedisCluster {
		if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
			p.add("REDIS_URL", fmt.Sprintf("database %q: Redis Cluster has only database 0", db))
		}
	}
	// Let go-redis check the rest (query parameters, database number).
	if _, err := c.redisOptions(); err != nil {
		p.add("REDIS_URL", err.Error())
	}
}

func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return "", errors.New("want scheme://host[:port]")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errors.New("scheme must be http or https")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", errors.New("an origin has no user, path, query or fragment")
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, fmt.Errorf("decodes to %d bytes, want 32 (generate one with: openssl rand -base64 32)", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("is not valid base64 (generate one with: openssl rand -base64 32)")
}

func loadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s contains no PEM certificate", file)
	}
	return pool, nil
}

// tlsConfig is the TLS configuration for rediss://. ServerName stays empty:
// the dialer then verifies each node against its own address, which matters
// for Cluster and Sentinel, where nodes are discovered.
func (c *Config) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: c.redisCAs}
}

// ---- problems ----

// Error is returned by Load: every configuration problem, one per line.
type Error struct {
	Problems []Problem
}

// Problem is one invalid or inconsistent variable.
type Problem struct {
	Var string // environment variable
	Msg string // what is wrong; never contains a secret
}

func (p Problem) Error() string { return p.Var + ": " + p.Msg }

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap gives errors.Is/As access to each Problem.
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

type problems struct{ list []Problem }

func (p *problems) add(key, msg string) { p.list = append(p.list, Problem{key, msg}) }

// err sorts the problems into the order of the fields, so output is stable.
func (p *problems) err(fields []field) error {
	if len(p.list) == 0 {
		return nil
	}
	order := map[string]int{}
	for i, f := range fields {
		order[f.key] = i
	}
	sort.SliceStable(p.list, func(i, j int) bool { return order[p.list[i].Var] < order[p.list[j].Var] })
	return &Error{Problems: p.list}
}

type field struct {
	name, key string
	secret    bool
}

// fieldIndex lists the struct fields with their variable names.
func fieldIndex() []field {
	t := reflect.TypeFor[Config]()
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("env")
		if !ok || !sf.IsExported() {
			continue
		}
		key, _, _ := strings.Cut(tag, ",")
		secret := sf.Type == reflect.TypeFor[Secret]() || sf.Type == reflect.TypeFor[SecretURL]()
		fs = append(fs, field{name: sf.Name, key: key, secret: secret})
	}
	return fs
}

// describeParseError turns the library's error (which names the Go field) into
// a line naming the variable and the value (unless it is secret).
func describeParseError(err error, fields []field, values map[string]string) (key, msg string) {
	var pe env.ParseError
	if !errors.As(err, &pe) {
		return "environment", err.Error()
	}
	var f field
	for _, x := range fields {
		if x.name == pe.Name {
			f = x
		}
	}
	if f.key == "" {
		return pe.Name, pe.Err.Error()
	}
	shown := "value"
	if !f.secret {
		shown = strconv.Quote(values[f.key])
	}
	inner := pe.Err
	var ne *strconv.NumError
	switch {
	case errors.As(inner, &ne) && ne.Err == strconv.ErrRange:
		return f.key, shown + " is out of range"
	case errors.As(inner, &ne):
		switch pe.Type.Kind() {
		case reflect.Float32, reflect.Float64:
			return f.key, shown + " is not a number"
		case reflect.Bool:
			return f.key, shown + " is not a boolean"
		default:
			return f.key, shown + " is not an integer"
		}
	case pe.Type == reflect.TypeFor[time.Duration]():
		return f.key, shown + " is not a duration (e.g. 90s, 5m, 1h30m)"
	}
	return f.key, shown + ": " + inner.Error()
}

// ---- redaction ----

const redacted = "[redacted]"

// Secret is a string that never prints. Reveal returns the value.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalText keeps encoders (JSON, YAML) from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue keeps log/slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// SecretURL is a URL that may carry a password; it prints with the password
// replaced by "xxxxx". Reveal returns the full URL.
type SecretURL string

// Reveal returns the URL with its password.
func (u SecretURL) Reveal() string { return string(u) }

func (u SecretURL) String() string {
	if u == "" {
		return ""
	}
	p, err := url.Parse(string(u))
	if err != nil {
		return redacted
	}
	return p.Redacted()
}

// GoString keeps %#v from printing the password.
func (u SecretURL) GoString() string { return strconv.Quote(u.String()) }

// MarshalText keeps encoders from printing the password.
func (u SecretURL) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// LogValue keeps log/slog from printing the password.
func (u SecretURL) LogValue() slog.Value { return slog.StringValue(u.String()) }

type secretBytes []byte

func (secretBytes) String() string   { return redacted }
func (secretBytes) GoString() string { return redacted }

// Redacted is the configuration as one line of NAME=value pairs, secrets
// replaced. Safe to log.
func (c *Config) Redacted() string {
	var b strings.Builder
	for i, a := range c.attrs() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.Key)
		b.WriteByte('=')
		v := a.Value.String()
		if v == "" || strings.ContainsAny(v, " \"=") {
			v = strconv.Quote(v)
		}
		b.WriteString(v)
	}
	return b.String()
}

// String is Redacted, so fmt never prints secrets.
func (c *Config) String() string { return c.Redacted() }

// GoString is Redacted, so %#v never prints secrets.
func (c *Config) GoString() string { return "config.Config{" + c.Redacted() + "}" }

// LogValue logs the configuration as a group of its variables, secrets
// replaced.
func (c *Config) LogValue() slog.Value { return slog.GroupValue(c.attrs()...) }

func (c *Config) attrs() []slog.Attr {
	return []slog.Attr{
		slog.String("MCP_SERVER_NAME", c.ServerName),
		slog.Int("PORT", c.Port),
		slog.String("MCP_ADDR", c.Addr),
		slog.String("REDIS_URL", c.RedisURL.String()),
		slog.String("REDIS_PASSWORD", c.RedisPassword.String()),
		slog.String("REDIS_PASSWORD_SECRET_ARN", c.RedisPasswordSecretARN),
		slog.String("REDIS_TLS_CA_FILE", c.RedisTLSCAFile),
		slog.String("REDIS_MODE", string(c.RedisMode)),
		slog.String("REDIS_SENTINEL_MASTER", c.RedisSentinelMaster),
		slog.String("MCP_SESSION_TTL", c.SessionTTL.String()),
		slog.String("MCP_REQUEST_TIMEOUT", c.RequestTimeout.String()),
		slog.String("MCP_MAX_BODY_BYTES", c.MaxBodyBytes.String()),
		slog.Int("MCP_MAX_CONCURRENT_REQUESTS", c.MaxConcurrentRequests),
		slog.String("MCP_ALLOWED_ORIGINS", strings.Join(c.AllowedOrigins, ",")),
		slog.String("LOG_LEVEL", string(c.LogLevel)),
		slog.String("LOG_FORMAT", string(c.LogFormat)),
		slog.String("LAMBDA_INVOKE_MODE", c.LambdaInvokeMode),
		slog.String("SHUTDOWN_GRACE", c.ShutdownGrace.String()),
		slog.String("MCP_STATE_KEY", c.StateKey.String()),
		slog.Float64("MCP_ERROR_RATE_DEGRADED", c.ErrorRateDegraded),
	}
}
