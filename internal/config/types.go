package config

import (
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
)

// RedisMode selects the go-redis client kind.
type RedisMode string

// Redis modes.
const (
	RedisSingle   RedisMode = "single"
	RedisCluster  RedisMode = "cluster"
	RedisSentinel RedisMode = "sentinel"
)

// UnmarshalText accepts single, cluster or sentinel (any case).
func (m *RedisMode) UnmarshalText(b []byte) error {
	switch v := RedisMode(strings.ToLower(strings.TrimSpace(string(b)))); v {
	case RedisSingle, RedisCluster, RedisSentinel:
		*m = v
		return nil
	}
	return fmt.Errorf("want single, cluster or sentinel")
}

// LogLevel is debug, info, warn or error.
type LogLevel string

// UnmarshalText accepts debug, info, warn (or warning) and error, any case.
func (l *LogLevel) UnmarshalText(b []byte) error {
	switch v := strings.ToLower(strings.TrimSpace(string(b))); v {
	case "debug", "info", "warn", "error":
		*l = LogLevel(v)
		return nil
	case "warning":
		*l = "warn"
		return nil
	}
	return fmt.Errorf("want debug, info, warn or error")
}

// Slog is the level as a slog.Level.
func (l LogLevel) Slog() slog.Level {
	switch l {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// LogFormat is auto, json or text.
type LogFormat string

// Log formats.
const (
	LogAuto LogFormat = "auto"
	LogJSON LogFormat = "json"
	LogText LogFormat = "text"
)

// UnmarshalText accepts auto, json or text, any case.
func (f *LogFormat) UnmarshalText(b []byte) error {
	switch v := LogFormat(strings.ToLower(strings.TrimSpace(string(b)))); v {
	case LogAuto, LogJSON, LogText:
		*f = v
		return nil
	}
	return fmt.Errorf("want auto, json or text")
}

// Resolve turns auto into text when the log output is a terminal and JSON
// otherwise (containers, Cloud Run, where logs are collected as JSON).
func (f LogFormat) Resolve(isTerminal bool) LogFormat {
	if f != LogAuto {
		return f
	}
	if isTerminal {
		return LogText
	}
	return LogJSON
}

// ByteSize is a size in bytes. It parses a plain number of bytes or a number
// with a unit: B, KiB, MiB, GiB (powers of 1024) or KB, MB, GB (powers of
// 1000); units are case-insensitive.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
	{"b", 1},
}

// UnmarshalText parses e.g. "4194304", "4MiB", "512 KiB", "1MB".
func (s *ByteSize) UnmarshalText(b []byte) error {
	v := strings.ToLower(strings.TrimSpace(string(b)))
	mult := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			v, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("not a size (e.g. 4MiB, 512KiB, 1048576)")
	}
	if n > math.MaxInt64/mult {
		return fmt.Errorf("too large")
	}
	*s = ByteSize(n * mult)
	return nil
}

// String prints the size with the largest binary unit that divides it.
func (s ByteSize) String() string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if s != 0 && int64(s)%u.mult == 0 {
			return strconv.FormatInt(int64(s)/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}
