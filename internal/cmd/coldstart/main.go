//go:build unix

// Command coldstart measures the cold start of a Lambda bootstrap binary
// behind an emulated function URL (package internal/lambdaemu).
//
// Each run starts a fresh emulator with one instance, sends one request,
// reads the whole response and records, from the emulator's statistics, the
// time from process start to the runtime's first /next (init) and to the
// first byte of the response (cold start). It prints every run and the
// median, minimum and maximum, and exits with status 1 if any run failed
// (error, timeout or a status >= 300), 2 on bad usage.
//
//	go run ./internal/cmd/coldstart -bootstrap ./bootstrap -runs 15 -env OTEL_SDK_DISABLED=true
//
// The default request is an MCP initialize request POSTed to /mcp with
// Content-Type: application/json and Accept: application/json,
// text/event-stream.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mcpfleet/mcpfleet/internal/lambdaemu"
)

// defaultBody is an MCP initialize request.
const defaultBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"coldstart","version":"1"}}}`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, " ") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// config is one measurement's settings.
type config struct {
	opts   lambdaemu.Options
	method string
	path   string
	body   string
	header http.Header
}

// result is one run's measurements.
type result struct {
	init      time.Duration // process start -> first /next
	coldStart time.Duration // process start -> first response byte
	total     time.Duration // request sent -> response body read
	status    int
	bytes     int
}

// run is main with its arguments and outputs; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("coldstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bootstrap := fs.String("bootstrap", "", "path of the bootstrap binary (required)")
	runs := fs.Int("runs", 15, "number of cold starts to measure")
	modeName := fs.String("mode", "streaming", "function URL invoke mode: streaming or buffered")
	path := fs.String("path", "/mcp", "request path (may include a query)")
	body := fs.String("body", defaultBody, "request body, POSTed; empty sends a GET")
	timeout := fs.Duration("timeout", 30*time.Second, "function timeout")
	verbose := fs.Bool("v", false, "copy the function's output to stderr")
	var env, headers listFlag
	fs.Var(&env, "env", "`KEY=VALUE` added to the function's environment (repeatable)")
	fs.Var(&headers, "header", "`Name: value` request header (repeatable); replaces a default header of the same name")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: coldstart -bootstrap PATH [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	mode, err := lambdaemu.ParseMode(*modeName)
	if err != nil || *bootstrap == "" || *runs < 1 || fs.NArg() > 0 || !strings.HasPrefix(*path, "/") {
		if err != nil {
			fmt.Fprintln(stderr, err)
		}
		fs.Usage()
		return 2
	}
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			fmt.Fprintf(stderr, "coldstart: -env %q is not KEY=VALUE\n", kv)
			return 2
		}
	}
	cfg := config{
		opts: lambdaemu.Options{
			Command:      []string{*bootstrap},
			Env:          env,
			Timeout:      *timeout,
			MaxInstances: 1,
			Mode:         mode,
		},
		method: http.MethodPost,
		path:   *path,
		body:   *body,
		header: http.Header{},
	}
	if cfg.body == "" {
		cfg.method = http.MethodGet
	} else {
		cfg.header.Set("Content-Type", "application/json")
		cfg.header.Set("Accept", "application/json, text/event-stream")
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			fmt.Fprintf(stderr, "coldstart: -header %q is not 'Name: value'\n", h)
			return 2
		}
		cfg.header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}

	fmt.Fprintf(stdout, "cold start of %s (%s, %s %s), %d runs\n", *bootstrap, mode, cfg.method, cfg.path, *runs)
	var ok []result
	failed := 0
	for i := 1; i <= *runs; i++ {
		var out bytes.Buffer
		if *verbose {
			cfg.opts.Output = stderr
		} else {
			cfg.opts.Output = &out
		}
		r, err := measure(cfg)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "run %2d: FAILED: %v\n", i, err)
			if !*verbose && out.Len() > 0 {
				fmt.Fprintf(stderr, "run %d output:\n%s", i, out.Bytes())
			}
			continue
		}
		ok = append(ok, r)
		fmt.Fprintf(stdout, "run %2d: init %8s  cold start %8s  total %8s  status %d, %d bytes\n",
			i, round(r.init), round(r.coldStart), round(r.total), r.status, r.bytes)
	}
	if len(ok) > 0 {
		summary := func(name string, get func(result) time.Duration) {
			ds := make([]time.Duration, len(ok))
			for i, r := range ok {
				ds[i] = get(r)
			}
			slices.Sort(ds)
			fmt.Fprintf(stdout, "%-42s median %8s  min %8s  max %8s\n", name,
				round(median(ds)), round(ds[0]), round(ds[len(ds)-1]))
		}
		summary("init (process start -> first /next):", func(r result) time.Duration { return r.init })
		summary("cold start (process start -> first byte):", func(r result) time.Duration { return r.coldStart })
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d of %d runs failed\n", failed, *runs)
		return 1
	}
	return 0
}

// measure runs one cold start.
func measure(cfg config) (result, error) {
	emu, err := lambdaemu.Start(cfg.opts)
	if err != nil {
		return result{}, err
	}
	defer emu.Close()
	var body io.Reader
	if cfg.body != "" {
		body = strings.NewReader(cfg.body)
	}
	req, err := http.NewRequest(cfg.method, emu.URL()+cfg.path, body)
	if err != nil {
		return result{}, err
	}
	req.Header = cfg.header.Clone()
	client := &http.Client{Timeout: cfg.opts.Timeout + 5*time.Second}
	began := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return result{}, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	total := time.Since(began)
	if err != nil {
		return result{}, fmt.Errorf("status %d, reading the body: %w", resp.StatusCode, err)
	}
	if resp.StatusCode >= 300 {
		if len(b) > 300 {
			b = append(b[:300:300], "..."...)
		}
		return result{}, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	st := emu.Stats()
	if len(st.Instances) != 1 {
		return result{}, fmt.Errorf("%d instances started, want 1", len(st.Instances))
	}
	in := st.Instances[0]
	if in.FirstNext.IsZero() || in.FirstByte.IsZero() {
		return result{}, errors.New("the emulator recorded no first /next or first byte")
	}
	return result{init: in.InitDuration(), coldStart: in.ColdStart(), total: total, status: resp.StatusCode, bytes: len(b)}, nil
}

// median returns the median of sorted durations.
func median(ds []time.Duration) time.Duration {
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	return (ds[n/2-1] + ds[n/2]) / 2
}

// round rounds d for display.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
