package config

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// lookup turns a map into Load's lookup function.
func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// key32 is a valid MCP_STATE_KEY.
var key32 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

func TestDefaults(t *testing.T) {
	c, err := Load(lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		ServerName:            "mcpfleet",
		Port:                  8080,
		RedisMode:             RedisSingle,
		SessionTTL:            30 * time.Minute,
		RequestTimeout:        5 * time.Minute,
		MaxBodyBytes:          4 << 20,
		MaxConcurrentRequests: 1000,
		LogLevel:              "info",
		LogFormat:             LogAuto,
		ShutdownGrace:         10 * time.Second,
		ErrorRateDegraded:     0.1,
		LambdaInvokeMode:      "RESPONSE_STREAM",
	}
	if !reflect.DeepEqual(*c, want) {
		t.Fatalf("defaults:\n got %s\nwant %s", c.Redacted(), want.Redacted())
	}
	if c.ListenAddr() != ":8080" || c.UsesRedis() || c.StateKeyBytes() != nil {
		t.Errorf("ListenAddr %q UsesRedis %v StateKey %v", c.ListenAddr(), c.UsesRedis(), c.StateKeyBytes())
	}
	if o, err := c.RedisOptions(); o != nil || err != nil {
		t.Errorf("RedisOptions without REDIS_URL = %v, %v; want nil, nil", o, err)
	}
	// Empty values count as unset.
	empty := map[string]string{}
	for _, f := range fieldIndex() {
		empty[f.key] = ""
	}
	c2, err := Load(lookup(empty))
	if err != nil {
		t.Fatalf("all variables empty: %v", err)
	}
	if !reflect.DeepEqual(*c2, want) {
		t.Fatalf("all empty:\n got %s\nwant %s", c2.Redacted(), want.Redacted())
	}
}

func TestValid(t *testing.T) {
	ca := writeTestCA(t)
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{"PORT", map[string]string{"PORT": "9090"}, func(t *testing.T, c *Config) {
			eq(t, c.ListenAddr(), ":9090")
		}},
		{"MCP_ADDR overrides PORT", map[string]string{"PORT": "9090", "MCP_ADDR": "127.0.0.1:7000"}, func(t *testing.T, c *Config) {
			eq(t, c.ListenAddr(), "127.0.0.1:7000")
		}},
		{"MCP_ADDR IPv6", map[string]string{"MCP_ADDR": "[::1]:0"}, func(t *testing.T, c *Config) {
			eq(t, c.ListenAddr(), "[::1]:0")
		}},
		{"server name trimmed", map[string]string{"MCP_SERVER_NAME": "  fleet-a "}, func(t *testing.T, c *Config) {
			eq(t, c.ServerName, "fleet-a")
		}},
		{"durations", map[string]string{"MCP_SESSION_TTL": "2h", "MCP_REQUEST_TIMEOUT": "90s", "SHUTDOWN_GRACE": "8s"}, func(t *testing.T, c *Config) {
			eq(t, c.SessionTTL, 2*time.Hour)
			eq(t, c.RequestTimeout, 90*time.Second)
			eq(t, c.ShutdownGrace, 8*time.Second)
		}},
		{"body size plain bytes", map[string]string{"MCP_MAX_BODY_BYTES": "1048576"}, func(t *testing.T, c *Config) {
			eq(t, c.MaxBodyBytes, ByteSize(1<<20))
		}},
		{"body size with units", map[string]string{"MCP_MAX_BODY_BYTES": "512 kib"}, func(t *testing.T, c *Config) {
			eq(t, c.MaxBodyBytes, ByteSize(512<<10))
		}},
		{"body size decimal unit", map[string]string{"MCP_MAX_BODY_BYTES": "2MB"}, func(t *testing.T, c *Config) {
			eq(t, c.MaxBodyBytes, ByteSize(2_000_000))
		}},
		{"unlimited concurrency", map[string]string{"MCP_MAX_CONCURRENT_REQUESTS": "0"}, func(t *testing.T, c *Config) {
			eq(t, c.MaxConcurrentRequests, 0)
		}},
		{"origins normalised", map[string]string{"MCP_ALLOWED_ORIGINS": " https://App.Example.com/ ,,http://localhost:3000"}, func(t *testing.T, c *Config) {
			eq(t, strings.Join(c.AllowedOrigins, " "), "https://app.example.com http://localhost:3000")
		}},
		{"log settings any case", map[string]string{"LOG_LEVEL": "WARNING", "LOG_FORMAT": "JSON"}, func(t *testing.T, c *Config) {
			eq(t, c.LogLevel, LogLevel("warn"))
			eq(t, c.LogLevel.Slog(), slog.LevelWarn)
			eq(t, c.LogFormat, LogJSON)
		}},
		{"state key std base64", map[string]string{"MCP_STATE_KEY": key32}, func(t *testing.T, c *Config) {
			eq(t, len(c.StateKeyBytes()), 32)
		}},
		{"state key raw url base64", map[string]string{"MCP_STATE_KEY": base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))}, func(t *testing.T, c *Config) {
			eq(t, c.StateKeyBytes()[0], byte(0xfb))
		}},
		{"error rate", map[string]string{"MCP_ERROR_RATE_DEGRADED": "1"}, func(t *testing.T, c *Config) {
			eq(t, c.ErrorRateDegraded, 1.0)
		}},
		{"redis single", map[string]string{"REDIS_URL": "redis://redis:6379/0"}, func(t *testing.T, c *Config) {
			eq(t, c.UsesRedis(), true)
		}},
		{"rediss with CA and separate password", map[string]string{"REDIS_URL": "rediss://10.0.0.3:6378", "REDIS_PASSWORD": "s3cret", "REDIS_TLS_CA_FILE": ca.caFile}, func(t *testing.T, c *Config) {
			eq(t, c.redisCAs != nil, true)
		}},
		{"cluster", map[string]string{"REDIS_URL": "redis://a:6379?addr=b:6379", "REDIS_MODE": "Cluster"}, func(t *testing.T, c *Config) {
			eq(t, c.RedisMode, RedisCluster)
		}},
		{"sentinel with URL password and REDIS_PASSWORD", map[string]string{"REDIS_URL": "redis://:sentpw@s1:26379", "REDIS_PASSWORD": "datapw", "REDIS_MODE": "sentinel", "REDIS_SENTINEL_MASTER": "mymaster"}, func(t *testing.T, c *Config) {
			eq(t, c.RedisMode, RedisSentinel)
		}},
		{"sentinel master from URL", map[string]string{"REDIS_URL": "redis://s1:26379?master_name=m", "REDIS_MODE": "sentinel"}, func(t *testing.T, c *Config) {
			eq(t, c.RedisSentinelMaster, "")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(lookup(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func eq[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestInvalid(t *testing.T) {
	goodCA := writeTestCA(t).caFile
	missing := filepath.Join(t.TempDir(), "nope.pem")
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		want string // the whole problem line
	}{
		{"port not a number", map[string]string{"PORT": "http"}, `PORT: "http" is not an integer`},
		{"port out of range", map[string]string{"PORT": "70000"}, `PORT: 70000 is not a TCP port (1-65535)`},
		{"port zero", map[string]string{"PORT": "0"}, `PORT: 0 is not a TCP port (1-65535)`},
		{"port overflows int", map[string]string{"PORT": "99999999999999999999"}, `PORT: "99999999999999999999" is out of range`},
		{"addr without port", map[string]string{"MCP_ADDR": "localhost"}, `MCP_ADDR: "localhost" is not host:port (e.g. :8080, 127.0.0.1:8080, [::1]:8080)`},
		{"addr bad port", map[string]string{"MCP_ADDR": ":http"}, `MCP_ADDR: port "http" is not a TCP port (0-65535)`},
		{"blank server name", map[string]string{"MCP_SERVER_NAME": "   "}, `MCP_SERVER_NAME: must not be blank`},
		{"long server name", map[string]string{"MCP_SERVER_NAME": strings.Repeat("x", 129)}, `MCP_SERVER_NAME: longer than 128 characters`},
		{"bad duration", map[string]string{"MCP_SESSION_TTL": "30"}, `MCP_SESSION_TTL: "30" is not a duration (e.g. 90s, 5m, 1h30m)`},
		{"negative duration", map[string]string{"MCP_REQUEST_TIMEOUT": "-1s"}, `MCP_REQUEST_TIMEOUT: must be positive, got -1s`},
		{"zero grace", map[string]string{"SHUTDOWN_GRACE": "0s"}, `SHUTDOWN_GRACE: must be positive, got 0s`},
		{"short session ttl", map[string]string{"MCP_SESSION_TTL": "10s"}, `MCP_SESSION_TTL: 10s is shorter than the 1m minimum`},
		{"body size unit", map[string]string{"MCP_MAX_BODY_BYTES": "4 megs"}, `MCP_MAX_BODY_BYTES: "4 megs": not a size (e.g. 4MiB, 512KiB, 1048576)`},
		{"body size too small", map[string]string{"MCP_MAX_BODY_BYTES": "10"}, `MCP_MAX_BODY_BYTES: 10B is outside 1KiB-1GiB`},
		{"body size too large", map[string]string{"MCP_MAX_BODY_BYTES": "2GiB"}, `MCP_MAX_BODY_BYTES: 2GiB is outside 1KiB-1GiB`},
		{"negative concurrency", map[string]string{"MCP_MAX_CONCURRENT_REQUESTS": "-1"}, `MCP_MAX_CONCURRENT_REQUESTS: -1 is negative (0 means unlimited)`},
		{"origin with path", map[string]string{"MCP_ALLOWED_ORIGINS": "https://a.example/app"}, `MCP_ALLOWED_ORIGINS: "https://a.example/app": an origin has no user, path, query or fragment`},
		{"origin wildcard", map[string]string{"MCP_ALLOWED_ORIGINS": "*"}, `MCP_ALLOWED_ORIGINS: "*": want scheme://host[:port]`},
		{"origin scheme", map[string]string{"MCP_ALLOWED_ORIGINS": "ftp://a.example"}, `MCP_ALLOWED_ORIGINS: "ftp://a.example": scheme must be http or https`},
		{"log level", map[string]string{"LOG_LEVEL": "verbose"}, `LOG_LEVEL: "verbose": want debug, info, warn or error`},
		{"log format", map[string]string{"LOG_FORMAT": "xml"}, `LOG_FORMAT: "xml": want auto, json or text`},
		{"error rate zero", map[string]string{"MCP_ERROR_RATE_DEGRADED": "0"}, `MCP_ERROR_RATE_DEGRADED: 0 is outside (0, 1]`},
		{"error rate percent", map[string]string{"MCP_ERROR_RATE_DEGRADED": "10%"}, `MCP_ERROR_RATE_DEGRADED: "10%" is not a number`},
		{"state key short", map[string]string{"MCP_STATE_KEY": base64.StdEncoding.EncodeToString([]byte("short"))}, `MCP_STATE_KEY: decodes to 5 bytes, want 32 (generate one with: openssl rand -base64 32)`},
		{"state key not base64", map[string]string{"MCP_STATE_KEY": "not base64!"}, `MCP_STATE_KEY: is not valid base64 (generate one with: openssl rand -base64 32)`},
		{"redis scheme", map[string]string{"REDIS_URL": "http://redis:6379"}, `REDIS_URL: scheme "http" is not redis:// or rediss:// (TLS)`},
		{"redis no host", map[string]string{"REDIS_URL": "redis://"}, `REDIS_URL: has no host`},
		{"redis unparsable", map[string]string{"REDIS_URL": "redis://u:p@[bad"}, `REDIS_URL: is not a valid URL`},
		{"redis unknown param", map[string]string{"REDIS_URL": "redis://redis:6379?pool=3"}, `REDIS_URL: redis: unexpected option: pool`},
		{"redis bad db", map[string]string{"REDIS_URL": "redis://redis:6379/x"}, `REDIS_URL: redis: invalid database number: "x"`},
		{"redis skip_verify", map[string]string{"REDIS_URL": "rediss://redis:6379?skip_verify=true"}, `REDIS_URL: skip_verify is not allowed: give the server's CA in REDIS_TLS_CA_FILE instead`},
		{"redis password param", map[string]string{"REDIS_URL": "redis://s:26379?password=x", "REDIS_MODE": "sentinel", "REDIS_SENTINEL_MASTER": "m"}, `REDIS_URL: password= in the query is not allowed: use REDIS_PASSWORD`},
		{"two passwords", map[string]string{"REDIS_URL": "redis://:a@redis:6379", "REDIS_PASSWORD": "b"}, `REDIS_PASSWORD: is set and REDIS_URL also has a password: keep one`},
		{"CA without TLS", map[string]string{"REDIS_URL": "redis://redis:6379", "REDIS_TLS_CA_FILE": goodCA}, `REDIS_TLS_CA_FILE: is set but REDIS_URL does not use rediss:// (TLS)`},
		{"CA missing", map[string]string{"REDIS_URL": "rediss://redis:6379", "REDIS_TLS_CA_FILE": missing}, `REDIS_TLS_CA_FILE: cannot read: open ` + missing + `: no such file or directory`},
		{"CA not PEM", map[string]string{"REDIS_URL": "rediss://redis:6379", "REDIS_TLS_CA_FILE": notPEM}, `REDIS_TLS_CA_FILE: ` + notPEM + ` contains no PEM certificate`},
		{"mode", map[string]string{"REDIS_URL": "redis://redis:6379", "REDIS_MODE": "ha"}, `REDIS_MODE: "ha": want single, cluster or sentinel`},
		{"sentinel without master", map[string]string{"REDIS_URL": "redis://s:26379", "REDIS_MODE": "sentinel"}, `REDIS_SENTINEL_MASTER: is required when REDIS_MODE=sentinel`},
		{"sentinel master conflict", map[string]string{"REDIS_URL": "redis://s:26379?master_name=a", "REDIS_MODE": "sentinel", "REDIS_SENTINEL_MASTER": "b"}, `REDIS_SENTINEL_MASTER: differs from master_name in REDIS_URL`},
		{"master without sentinel", map[string]string{"REDIS_URL": "redis://redis:6379", "REDIS_SENTINEL_MASTER": "m"}, `REDIS_SENTINEL_MASTER: is set but REDIS_MODE=single (want sentinel)`},
		{"cluster db", map[string]string{"REDIS_URL": "redis://redis:6379/2", "REDIS_MODE": "cluster"}, `REDIS_URL: database "2": Redis Cluster has only database 0`},
		{"password without URL", map[string]string{"REDIS_PASSWORD": "x"}, `REDIS_PASSWORD: is set but REDIS_URL is empty (in-memory state); set REDIS_URL or unset it`},
		{"mode without URL", map[string]string{"REDIS_MODE": "cluster"}, `REDIS_MODE: is set but REDIS_URL is empty (in-memory state); set REDIS_URL or unset it`},
		{"secret ARN without URL", map[string]string{"REDIS_PASSWORD_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redis-AbCdEf"}, `REDIS_PASSWORD_SECRET_ARN: is set but REDIS_URL is empty (in-memory state); set REDIS_URL or unset it`},
		{"secret ARN and password", map[string]string{"REDIS_URL": "rediss://u:p@cache:6379", "REDIS_PASSWORD_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redis-AbCdEf"}, `REDIS_PASSWORD_SECRET_ARN: is set and so is a password (REDIS_PASSWORD or in REDIS_URL): keep one`},
		{"secret ARN malformed", map[string]string{"REDIS_URL": "rediss://cache:6379", "REDIS_PASSWORD_SECRET_ARN": "redis-password"}, `REDIS_PASSWORD_SECRET_ARN: "redis-password" is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)`},
		{"invoke mode", map[string]string{"LAMBDA_INVOKE_MODE": "STREAM"}, `LAMBDA_INVOKE_MODE: "STREAM" is not RESPONSE_STREAM or BUFFERED (the function URL's invoke mode)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(lookup(tt.env))
			if err == nil {
				t.Fatalf("Load succeeded: %s", c)
			}
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("error %T is not *Error", err)
			}
			if len(cerr.Problems) != 1 || cerr.Problems[0].Error() != tt.want {
				t.Fatalf("problems:\n%v\nwant exactly:\n  %s", err, tt.want)
			}
		})
	}
}

// Every problem is reported at once, one per line, in a stable order.
func TestMultipleProblemsInOneError(t *testing.T) {
	_, err := Load(lookup(map[string]string{
		"LOG_LEVEL":                   "loud",
		"PORT":                        "eighty",
		"MCP_SESSION_TTL":             "forever",
		"MCP_STATE_KEY":               "c2hvcnQ=",
		"REDIS_URL":                   "redis://:hunter2@redis:6379?bogus=1",
		"REDIS_PASSWORD":              "hunter3",
		"MCP_MAX_CONCURRENT_REQUESTS": "-5",
		"MCP_ERROR_RATE_DEGRADED":     "2",
	}))
	want := `invalid configuration (8 problems):
  PORT: "eighty" is not an integer
  REDIS_URL: redis: unexpected option: bogus
  REDIS_PASSWORD: is set and REDIS_URL also has a password: keep one
  MCP_SESSION_TTL: "forever" is not a duration (e.g. 90s, 5m, 1h30m)
  MCP_MAX_CONCURRENT_REQUESTS: -5 is negative (0 means unlimited)
  LOG_LEVEL: "loud": want debug, info, warn or error
  MCP_STATE_KEY: decodes to 5 bytes, want 32 (generate one with: openssl rand -base64 32)
  MCP_ERROR_RATE_DEGRADED: 2 is outside (0, 1]`
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
	for _, secret := range []string{"hunter2", "hunter3", "c2hvcnQ="} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error reveals %q", secret)
		}
	}
	var p Problem
	if !errors.As(err, &p) || p.Var != "PORT" {
		t.Errorf("errors.As(Problem) = %+v", p)
	}
}

func TestSingleProblemHeader(t *testing.T) {
	_, err := Load(lookup(map[string]string{"PORT": "x"}))
	if want := "invalid configuration (1 problem):\n  PORT: \"x\" is not an integer"; err == nil || err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
}

// Secret values never appear in any rendering of a Config.
func TestRedaction(t *testing.T) {
	ca := writeTestCA(t)
	c, err := Load(lookup(map[string]string{
		"REDIS_URL":         "rediss://default:urlpass@10.0.0.3:6378/1",
		"REDIS_TLS_CA_FILE": ca.caFile,
		"MCP_STATE_KEY":     key32,
	}))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Load(lookup(map[string]string{
		"REDIS_URL":      "rediss://10.0.0.3:6378",
		"REDIS_PASSWORD": "envpass",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	jl := slog.New(slog.NewJSONHandler(&logs, nil))
	tl := slog.New(slog.NewTextHandler(&logs, nil))
	for _, cfg := range []*Config{c, c2} {
		jl.Info("config", "cfg", cfg, "key", cfg.StateKey, "pw", cfg.RedisPassword, "url", cfg.RedisURL)
		tl.Info("config", "cfg", cfg)
	}
	js, _ := json.Marshal(c)
	js2, _ := json.Marshal(c2)
	renderings := map[string]string{
		"Redacted":  c.Redacted() + c2.Redacted(),
		"%v":        fmt.Sprintf("%v %v", c, c2),
		"%+v":       fmt.Sprintf("%+v %+v", *c, *c2),
		"%#v":       fmt.Sprintf("%#v %#v", c, c2),
		"%#v value": fmt.Sprintf("%#v %#v", *c, *c2),
		"%s fields": fmt.Sprintf("%s %s %s %v", c.RedisURL, c.StateKey, c2.RedisPassword, c.stateKey),
		"json":      string(js) + string(js2),
		"slog":      logs.String(),
	}
	secrets := []string{"urlpass", "envpass", key32, string(c.StateKeyBytes())}
	for name, s := range renderings {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("%s reveals %q:\n%s", name, secret, s)
			}
		}
	}
	want := `MCP_SERVER_NAME=mcpfleet PORT=8080 MCP_ADDR="" REDIS_URL=rediss://default:xxxxx@10.0.0.3:6378/1 REDIS_PASSWORD="" REDIS_PASSWORD_SECRET_ARN="" REDIS_TLS_CA_FILE=` + ca.caFile +
		` REDIS_MODE=single REDIS_SENTINEL_MASTER="" MCP_SESSION_TTL=30m0s MCP_REQUEST_TIMEOUT=5m0s MCP_MAX_BODY_BYTES=4MiB MCP_MAX_CONCURRENT_REQUESTS=1000 MCP_ALLOWED_ORIGINS="" LOG_LEVEL=info LOG_FORMAT=auto LAMBDA_INVOKE_MODE=RESPONSE_STREAM SHUTDOWN_GRACE=10s MCP_STATE_KEY=[redacted] MCP_ERROR_RATE_DEGRADED=0.1`
	if got := c.Redacted(); got != want {
		t.Errorf("Redacted:\n got %s\nwant %s", got, want)
	}
	if !strings.Contains(c2.Redacted(), "REDIS_PASSWORD=[redacted]") {
		t.Errorf("Redacted does not show that a password is set: %s", c2.Redacted())
	}
	// The values are still there for the code that needs them.
	if c2.RedisPassword.Reveal() != "envpass" || !strings.Contains(c.RedisURL.Reveal(), "urlpass") {
		t.Error("Reveal lost the value")
	}
}

func TestByteSizeString(t *testing.T) {
	for in, want := range map[ByteSize]string{0: "0B", 1023: "1023B", 1024: "1KiB", 4 << 20: "4MiB", 1 << 30: "1GiB", 1500: "1500B"} {
		if got := in.String(); got != want {
			t.Errorf("%d: %q, want %q", int64(in), got, want)
		}
	}
}

func TestLogFormatResolve(t *testing.T) {
	eq(t, LogAuto.Resolve(true), LogText)
	eq(t, LogAuto.Resolve(false), LogJSON)
	eq(t, LogText.Resolve(false), LogText)
	eq(t, LogJSON.Resolve(true), LogJSON)
}

// FromEnv reads the process environment.
func TestFromEnv(t *testing.T) {
	t.Setenv("PORT", "8181")
	t.Setenv("LOG_LEVEL", "debug")
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	eq(t, c.Port, 8181)
	eq(t, c.LogLevel.Slog(), slog.LevelDebug)
}
