package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestLimitConcurrency(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		io.WriteString(w, "done")
	})
	st := &stats{now: time.Now}
	srv := httptest.NewServer(limitConcurrency(slow, 2, st))
	defer srv.Close()

	type answer struct {
		code int
		body string
	}
	get := func() answer {
		resp, err := http.Get(srv.URL)
		if err != nil {
			return answer{body: err.Error()}
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "1" {
			return answer{code: -1, body: "no Retry-After"}
		}
		return answer{resp.StatusCode, string(b)}
	}

	held := make(chan answer, 2)
	for range 2 {
		go func() { held <- get() }()
	}
	for range 2 {
		select {
		case <-entered:
		case <-time.After(5 * time.Second):
			t.Fatal("requests did not start")
		}
	}
	// Saturated: refused at once, not queued.
	start := time.Now()
	if a := get(); a.code != http.StatusServiceUnavailable || !strings.Contains(a.body, "retry shortly") {
		t.Fatalf("third request: %+v", a)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusal took %v", d)
	}
	close(release)
	for range 2 {
		if a := <-held; a.code != 200 {
			t.Fatalf("held request: %+v", a)
		}
	}
	// Slots are given back.
	if a := get(); a.code != 200 {
		t.Fatalf("after release: %+v", a)
	}
	if n := st.rejected.Load(); n != 1 {
		t.Errorf("rejected = %d, want 1", n)
	}
}

func TestLimitConcurrencyUnlimited(t *testing.T) {
	h := http.NotFoundHandler()
	if got := limitConcurrency(h, 0, nil); got == nil {
		t.Fatal("nil handler")
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		rate float64
		want []string // problem lines; none: valid
	}{
		{name: "empty environment", env: map[string]string{}},
		{name: "failure rate", env: map[string]string{"EXAMPLE_QUOTE_FAILURE_RATE": "0.25"}, rate: 0.25},
		{
			name: "problems of both kinds, all reported",
			env:  map[string]string{"PORT": "abc", "MCP_SESSION_TTL": "-1", "EXAMPLE_QUOTE_FAILURE_RATE": "2"},
			want: []string{`PORT: "abc" is not an integer`, "MCP_SESSION_TTL: ", `EXAMPLE_QUOTE_FAILURE_RATE: "2" is not a number in [0, 1]`},
		},
		{name: "not a number", env: map[string]string{"EXAMPLE_QUOTE_FAILURE_RATE": "often"}, want: []string{"EXAMPLE_QUOTE_FAILURE_RATE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, app, err := loadConfig(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if len(tt.want) == 0 {
				if err != nil || cfg == nil || app.QuoteFailureRate != tt.rate {
					t.Fatalf("got %v %+v, want rate %v", err, app, tt.rate)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
			if !strings.Contains(msg, "problem") || strings.Count(msg, "\n  ") != len(tt.want) {
				t.Errorf("want %d problem lines: %q", len(tt.want), msg)
			}
		})
	}
}
