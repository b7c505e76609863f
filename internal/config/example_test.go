package config_test

import (
	"fmt"

	"github.com/mcpfleet/mcpfleet/internal/config"
)

func mapLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func ExampleLoad() {
	cfg, err := config.Load(mapLookup(map[string]string{
		"PORT":           "9090",
		"REDIS_URL":      "rediss://10.0.0.3:6378/0",
		"REDIS_PASSWORD": "from-secret-manager",
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.ListenAddr(), cfg.UsesRedis(), cfg.RedisPassword)
	opts, _ := cfg.RedisOptions()
	fmt.Println(opts.Addrs, opts.TLSConfig != nil)
	// Output:
	// :9090 true [redacted]
	// [10.0.0.3:6378] true
}

// Load reports every problem at once, one per line.
func ExampleLoad_problems() {
	_, err := config.Load(mapLookup(map[string]string{
		"PORT":            "eighty",
		"REDIS_MODE":      "sentinel",
		"REDIS_URL":       "redis://sentinel:26379",
		"MCP_SESSION_TTL": "1 day",
		"LOG_FORMAT":      "yaml",
	}))
	fmt.Println(err)
	// Output:
	// invalid configuration (4 problems):
	//   PORT: "eighty" is not an integer
	//   REDIS_SENTINEL_MASTER: is required when REDIS_MODE=sentinel
	//   MCP_SESSION_TTL: "1 day" is not a duration (e.g. 90s, 5m, 1h30m)
	//   LOG_FORMAT: "yaml": want auto, json or text
}

func ExampleConfig_Redacted() {
	cfg, _ := config.Load(mapLookup(map[string]string{
		"REDIS_URL":     "redis://default:hunter2@redis:6379/0",
		"MCP_STATE_KEY": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
	}))
	fmt.Println(cfg.RedisURL, cfg.StateKey)
	// Output:
	// redis://default:xxxxx@redis:6379/0 [redacted]
}
