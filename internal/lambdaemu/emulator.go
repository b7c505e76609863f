//go:build unix

// Package lambdaemu runs a function's bootstrap binary on this machine the way
// AWS Lambda runs it behind a function URL, for end-to-end tests.
//
// [Start] returns an [Emulator] with a function URL front end on a loopback
// port. Each HTTP request to it becomes a function URL event (payload format
// 2.0) handed to an instance of the function through the public Lambda
// Runtime API (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
// An instance is an OS process started from [Options.Command] with its own
// Runtime API listener; instances are started on demand up to
// [Options.MaxInstances], each serves one invocation at a time, and an
// invocation that finds every instance busy at the limit is throttled (429),
// as Lambda does.
//
// The emulator reproduces the parts of Lambda that a server running on it
// can observe: the invocation deadline (the instance is killed with SIGKILL
// and the client's response cut when the deadline passes), response
// streaming (InvokeMode RESPONSE_STREAM: body chunks reach the client as the
// function writes them) or buffering (InvokeMode BUFFERED), the 6 MB payload
// limits, function errors and crashes (502), freezing of idle instances
// (SIGSTOP between invocations) and, for runtimes that register an internal
// extension (aws-lambda-go's lambda.WithEnableSIGTERM), SIGTERM with a 500 ms
// grace period at shutdown.
//
// Each instance serves one invocation at a time: do not set
// AWS_LAMBDA_MAX_CONCURRENCY (Lambda Managed Instances) in Options.Env.
//
// It does not emulate IAM auth, CORS, the Lambda Invoke API, external
// extensions, the Telemetry or Logs APIs, provisioned concurrency, response
// stream bandwidth limits or memory limits.
//
// The package works on Unix systems only (it uses process groups and signals).
package lambdaemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Mode is the invoke mode of the emulated function URL.
type Mode int

const (
	// Streaming is InvokeMode RESPONSE_STREAM: a response with content type
	// application/vnd.awslambda.http-integration-response (what
	// aws-lambda-go's lambdaurl package sends) is a JSON prelude with status,
	// headers and cookies, 8 NUL bytes, then the body, which is copied to the
	// client chunk by chunk as it arrives. Any other response is read whole
	// and interpreted like a buffered one.
	Streaming Mode = iota
	// Buffered is InvokeMode BUFFERED: the response is read whole and
	// interpreted as an events.LambdaFunctionURLResponse JSON object.
	Buffered
)

// String returns "streaming" or "buffered".
func (m Mode) String() string {
	switch m {
	case Streaming:
		return "streaming"
	case Buffered:
		return "buffered"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "streaming" (or "RESPONSE_STREAM") and "buffered" (or
// "BUFFERED"), case-insensitively.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "streaming", "response_stream":
		return Streaming, nil
	case "buffered":
		return Buffered, nil
	}
	return 0, fmt.Errorf("lambdaemu: unknown mode %q (want streaming or buffered)", s)
}

// Defaults and limits.
const (
	// DefaultTimeout is the function timeout when [Options.Timeout] is zero.
	DefaultTimeout = 30 * time.Second
	// DefaultFunctionName is the function name when [Options.FunctionName]
	// is empty.
	DefaultFunctionName = "mcpfleet"
	// MaxRequestPayload is Lambda's limit on a synchronous invocation's
	// event, in bytes; a bigger function URL request gets 413.
	MaxRequestPayload = 6291456
	// MaxResponsePayload is Lambda's limit on a buffered response, in
	// bytes; a bigger response gets 413 on the Runtime API and 502 at the
	// function URL.
	MaxResponsePayload = 6291556

	// Region is the AWS region the emulated function runs in.
	Region = "eu-west-1"
	// AccountID is the account ID in the emulated function's ARN.
	AccountID = "123456789012"
	// MemorySize is the emulated function's memory size in MB.
	MemorySize = 512

	// shutdownGrace is how long an instance with a registered extension may
	// take to exit after SIGTERM (Lambda gives 500 ms to functions with
	// internal extensions only).
	shutdownGrace = 500 * time.Millisecond
	// finishWait bounds how long an invocation that finds every instance
	// busy waits, before it is throttled, for an instance that has already
	// sent its response to call /next again or for a killed one to be
	// reaped.
	finishWait = time.Second
)

// Options configures an [Emulator]. Only Command is required.
type Options struct {
	// Command is the bootstrap binary and its arguments, started once per
	// instance. A relative path containing a slash is relative to the
	// current directory at Start.
	Command []string
	// Env is extra environment for instances, appended to (and overriding)
	// the minimal environment: PATH and HOME from this process, TZ=:UTC and
	// the Lambda variables (AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME,
	// AWS_LAMBDA_FUNCTION_VERSION, AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
	// AWS_REGION, AWS_DEFAULT_REGION, AWS_LAMBDA_LOG_GROUP_NAME,
	// AWS_LAMBDA_LOG_STREAM_NAME, _HANDLER, LAMBDA_TASK_ROOT,
	// AWS_LAMBDA_INITIALIZATION_TYPE). Entries are "KEY=value".
	Env []string
	// Dir is the instances' working directory and LAMBDA_TASK_ROOT. Empty
	// means the directory of Command[0] when it contains a slash, else the
	// current directory.
	Dir string
	// Timeout is the function timeout: an invocation's deadline is its
	// arrival at the front end plus Timeout (so a cold start's init counts
	// against it). Zero means [DefaultTimeout].
	Timeout time.Duration
	// MaxInstances is the concurrency limit. Zero means 1.
	MaxInstances int
	// Mode is the function URL's invoke mode; the zero value is [Streaming].
	Mode Mode
	// Freeze stops an instance's process group with SIGSTOP while it waits
	// in /next with no invocation, and continues it with SIGCONT when one
	// arrives, as Lambda freezes idle execution environments.
	Freeze bool
	// Output receives the instances' stdout and stderr and the emulator's
	// platform log lines (START, END, REPORT, "Task timed out ...", errors),
	// each line prefixed with "[i<N>] " where N numbers instances from 1 in
	// start order ("[emu] " for lines about no instance). Writes are whole
	// lines, serialized; there are none after Close returns. Nil discards.
	Output io.Writer
	// FunctionName is the function name; empty means [DefaultFunctionName].
	FunctionName string
}

// An Emulator is a running function URL with its instances. Its methods are
// safe for concurrent use.
type Emulator struct {
	opts    Options
	path    string // absolute or PATH-resolved Command[0]
	dir     string
	arn     string
	apiID   string
	url     string
	port    string
	front   *http.Server
	out     io.Writer  // nil: discard
	outMu   sync.Mutex // serializes writes to out
	started time.Time

	mu          sync.Mutex
	closed      bool
	instances   []*instance // live instances
	all         []*instance // every instance ever started, in order
	invocations []*invocation
	throttles   int
	changed     chan struct{} // closed and replaced when instance state changes
	handlers    sync.WaitGroup
	watchers    sync.WaitGroup
}

// Start validates opts, starts the function URL front end on a free
// loopback port and returns. No instance is started until the first
// request.
func Start(opts Options) (*Emulator, error) {
	if len(opts.Command) == 0 || opts.Command[0] == "" {
		return nil, errors.New("lambdaemu: Options.Command is empty")
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("lambdaemu: negative Options.Timeout %v", opts.Timeout)
	}
	if opts.MaxInstances < 0 {
		return nil, fmt.Errorf("lambdaemu: negative Options.MaxInstances %d", opts.MaxInstances)
	}
	if opts.Mode != Streaming && opts.Mode != Buffered {
		return nil, fmt.Errorf("lambdaemu: invalid Options.Mode %d", int(opts.Mode))
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxInstances == 0 {
		opts.MaxInstances = 1
	}
	if opts.FunctionName == "" {
		opts.FunctionName = DefaultFunctionName
	}
	opts.Command = append([]string(nil), opts.Command...)
	opts.Env = append([]string(nil), opts.Env...)

	path := opts.Command[0]
	if strings.Contains(path, "/") {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("lambdaemu: %w", err)
		}
		path = abs
	} else {
		p, err := exec.LookPath(path)
		if err != nil {
			return nil, fmt.Errorf("lambdaemu: %w", err)
		}
		path = p
	}
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("lambdaemu: bootstrap: %w", err)
	} else if fi.IsDir() {
		return nil, fmt.Errorf("lambdaemu: bootstrap %s is a directory", path)
	}
	dir := opts.Dir
	if dir == "" {
		if strings.Contains(opts.Command[0], "/") {
			dir = filepath.Dir(path)
		} else {
			wd, err := os.Getwd()
			if err != nil {
				return nil, fmt.Errorf("lambdaemu: %w", err)
			}
			dir = wd
		}
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambdaemu: function URL listener: %w", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	e := &Emulator{
		opts:    opts,
		path:    path,
		dir:     dir,
		arn:     fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", Region, AccountID, opts.FunctionName),
		apiID:   randAlnum(32),
		url:     "http://" + ln.Addr().String(),
		port:    port,
		out:     opts.Output,
		started: time.Now(),
		changed: make(chan struct{}),
	}
	e.front = &http.Server{
		Handler:           http.HandlerFunc(e.serveFunctionURL),
		ReadHeaderTimeout: 10 * time.Second,
	}
	e.watchers.Go(func() { _ = e.front.Serve(ln) })
	return e, nil
}

// URL returns the function URL, "http://127.0.0.1:PORT" without a trailing
// slash; clients request paths under it, e.g. URL()+"/mcp".
func (e *Emulator) URL() string { return e.url }

// FunctionARN returns the ARN the instances see as the invoked function ARN.
func (e *Emulator) FunctionARN() string { return e.arn }

// Close stops the front end (cutting open client connections), shuts every
// instance down and waits for the processes to exit. An instance whose
// runtime registered an extension gets SIGTERM and up to 500 ms to exit, as
// at a Lambda spin-down; others, and those still running after the grace
// period, are killed with SIGKILL (after SIGCONT if frozen). Close is
// idempotent.
func (e *Emulator) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	live := append([]*instance(nil), e.instances...)
	e.broadcastLocked()
	e.mu.Unlock()

	err := e.front.Close()
	var wg sync.WaitGroup
	for _, in := range live {
		wg.Go(in.shutdown)
	}
	wg.Wait()
	e.watchers.Wait()
	e.handlers.Wait()
	return err
}

// errThrottled and errClosed are acquire's refusals.
var (
	errThrottled = errors.New("throttled")
	errClosed    = errors.New("emulator closed")
)

// acquire assigns inv to an idle instance, or to a new one when below the
// limit; it returns errThrottled when every instance is busy at the limit.
// On success the invocation's deadline timer is running.
func (e *Emulator) acquire(ctx context.Context, inv *invocation) error {
	var waitUntil <-chan time.Time
	for {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return errClosed
		}
		finishing := false // an instance will be free in a moment
		for _, in := range e.instances {
			if in.killed {
				finishing = true // its slot frees when it has been reaped
				continue
			}
			if in.waiting && in.cur == nil {
				e.assignLocked(in, inv)
				e.mu.Unlock()
				return nil
			}
			if in.cur != nil && in.cur.done {
				finishing = true
			}
		}
		if len(e.instances) < e.opts.MaxInstances {
			in, err := e.startInstanceLocked()
			if err != nil {
				e.mu.Unlock()
				return err
			}
			e.assignLocked(in, inv)
			e.mu.Unlock()
			return nil
		}
		if !finishing {
			e.throttleLocked(inv)
			e.mu.Unlock()
			return errThrottled
		}
		// An instance has sent its response but not yet asked for the next
		// event, or is dying; on Lambda the client's round trip nearly
		// always outlasts that moment, here it may not: wait briefly.
		changed := e.changed
		e.mu.Unlock()
		if waitUntil == nil {
			waitUntil = time.After(finishWait)
		}
		select {
		case <-changed:
		case <-waitUntil:
			e.mu.Lock()
			e.throttleLocked(inv)
			e.mu.Unlock()
			return errThrottled
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// throttleLocked records inv as throttled.
func (e *Emulator) throttleLocked(inv *invocation) {
	e.throttles++
	inv.outcome = OutcomeThrottled
	inv.done = true
	inv.completed = time.Now()
	e.invocations = append(e.invocations, inv)
}

// assignLocked hands inv to in and starts its deadline timer.
func (e *Emulator) assignLocked(in *instance, inv *invocation) {
	in.cur = inv
	in.invocations++
	inv.inst = in
	inv.first = in.invocations == 1
	in.assign <- inv // capacity 1, empty because in.cur was nil
	e.invocations = append(e.invocations, inv)
	inv.timer = time.AfterFunc(time.Until(inv.deadline), func() { e.onDeadline(inv) })
}

// onDeadline ends inv with a timeout if it has not completed, killing its
// instance as Lambda does on "Task timed out".
func (e *Emulator) onDeadline(inv *invocation) {
	e.mu.Lock()
	if inv.done {
		e.mu.Unlock()
		return
	}
	in := inv.inst
	now := time.Now()
	e.endLocked(inv, OutcomeTimeout, nil)
	in.timedOut = true
	in.killLocked()
	e.mu.Unlock()
	e.logf(in, "%s %s Task timed out after %.2f seconds",
		now.UTC().Format("2006-01-02T15:04:05.000Z"), inv.id, now.Sub(inv.arrived).Seconds())
}

// endLocked records inv's outcome and wakes its front end handler. It
// reports false if inv had already ended.
func (e *Emulator) endLocked(inv *invocation, o Outcome, res *bufferedResponse) bool {
	if inv.done {
		return false
	}
	inv.done = true
	inv.outcome = o
	inv.result = res
	inv.completed = time.Now()
	if inv.timer != nil {
		inv.timer.Stop()
	}
	if o != OutcomeSuccess && inv.inst != nil {
		inv.inst.errors++
	}
	close(inv.term)
	e.broadcastLocked()
	return true
}

// end is endLocked with the lock, plus the END and REPORT platform lines.
func (e *Emulator) end(inv *invocation, o Outcome, res *bufferedResponse) bool {
	e.mu.Lock()
	ok := e.endLocked(inv, o, res)
	in := inv.inst
	var report string
	if ok && !inv.dispatched.IsZero() {
		report = fmt.Sprintf("REPORT RequestId: %s\tDuration: %.2f ms\tMemory Size: %d MB",
			inv.id, ms(inv.completed.Sub(inv.dispatched)), MemorySize)
		if in.invocations == 1 && !in.firstNext.IsZero() {
			report += fmt.Sprintf("\tInit Duration: %.2f ms", ms(in.firstNext.Sub(in.started)))
		}
	}
	e.mu.Unlock()
	if report != "" {
		e.logf(in, "END RequestId: %s", inv.id)
		e.logf(in, "%s", report)
	}
	return ok
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// broadcastLocked wakes everyone waiting for an instance state change.
func (e *Emulator) broadcastLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// logf writes a platform log line for instance in (nil: the emulator).
func (e *Emulator) logf(in *instance, format string, args ...any) {
	if e.out == nil {
		return
	}
	prefix := "[emu] "
	if in != nil {
		prefix = in.prefix
	}
	line := prefix + fmt.Sprintf(format, args...)
	if !strings.HasSuffix(line, "\n") {
		line += "\n"
	}
	e.outMu.Lock()
	defer e.outMu.Unlock()
	_, _ = io.WriteString(e.out, line)
}
