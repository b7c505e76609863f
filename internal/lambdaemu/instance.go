//go:build unix

package lambdaemu

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"
)

// An instance is one process of the function (one Lambda execution
// environment) with its own Runtime API listener. Fields after the blank
// line are guarded by Emulator.mu.
type instance struct {
	e      *Emulator
	id     int
	prefix string // "[i<id>] "
	addr   string // Runtime API host:port
	srv    *http.Server
	cmd    *exec.Cmd
	assign chan *invocation // capacity 1; the next invocation for /next
	stop   chan struct{}    // closed when the process is killed or has exited
	term   chan struct{}    // closed when a graceful shutdown (SIGTERM) begins
	dead   chan struct{}    // closed once the process has exited and been reaped
	// handlers counts running Runtime API handlers; Add only under
	// Emulator.mu before exited is set.
	handlers sync.WaitGroup

	pid         int
	started     time.Time
	firstNext   time.Time
	firstByte   time.Time
	waiting     bool        // blocked in /next
	cur         *invocation // assigned invocation, until the next /next after it ended
	invocations int
	errors      int
	frozen      bool
	freezes     int
	timedOut    bool
	killed      bool // SIGKILL sent
	stopClosed  bool
	termClosed  bool
	exited      time.Time
	exitErr     string
	extensions  []extension
}

// An extension is a registration on the Extensions API.
type extension struct {
	id, name string
	events   []string
}

// startInstanceLocked starts a new instance process. The caller holds e.mu
// and has checked the instance limit and that e is not closed.
func (e *Emulator) startInstanceLocked() (*instance, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API listener: %w", err)
	}
	id := len(e.all) + 1
	in := &instance{
		e:      e,
		id:     id,
		prefix: fmt.Sprintf("[i%d] ", id),
		addr:   ln.Addr().String(),
		assign: make(chan *invocation, 1),
		stop:   make(chan struct{}),
		term:   make(chan struct{}),
		dead:   make(chan struct{}),
	}
	in.srv = &http.Server{Handler: in.routes(), ReadHeaderTimeout: 10 * time.Second}

	cmd := exec.Command(e.path, e.opts.Command[1:]...)
	cmd.Dir = e.dir
	cmd.Env = e.env(in)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second
	var pw *prefixWriter
	if e.out != nil {
		pw = &prefixWriter{mu: &e.outMu, w: e.out, prefix: in.prefix}
		cmd.Stdout, cmd.Stderr = pw, pw
	}
	in.cmd = cmd
	in.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("start %s: %w", e.path, err)
	}
	in.pid = cmd.Process.Pid
	e.instances = append(e.instances, in)
	e.all = append(e.all, in)
	e.broadcastLocked()

	e.watchers.Go(func() { _ = in.srv.Serve(ln) })
	e.watchers.Go(func() { in.wait(pw) })
	return in, nil
}

// env returns the environment of instance in.
func (e *Emulator) env(in *instance) []string {
	name := e.opts.FunctionName
	env := []string{"PATH=" + os.Getenv("PATH")}
	if home := os.Getenv("HOME"); home != "" {
		env = append(env, "HOME="+home)
	}
	env = append(env,
		"TZ=:UTC",
		"AWS_LAMBDA_RUNTIME_API="+in.addr,
		"AWS_LAMBDA_FUNCTION_NAME="+name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		fmt.Sprintf("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%d", MemorySize),
		"AWS_REGION="+Region,
		"AWS_DEFAULT_REGION="+Region,
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/"+name,
		"AWS_LAMBDA_LOG_STREAM_NAME="+e.started.UTC().Format("2006/01/02")+"/[$LATEST]"+randHex(32),
		"_HANDLER=bootstrap",
		"LAMBDA_TASK_ROOT="+e.dir,
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
	)
	return append(env, e.opts.Env...)
}

// wait reaps the process and removes the instance; an invocation still in
// flight ends as a crash (502, or a cut stream).
func (in *instance) wait(pw *prefixWriter) {
	e := in.e
	err := in.cmd.Wait()
	if pw != nil {
		pw.flush()
	}
	e.mu.Lock()
	in.exited = time.Now()
	if err != nil {
		in.exitErr = err.Error()
	}
	in.frozen = false
	in.closeStopLocked()
	e.instances = slices.DeleteFunc(e.instances, func(x *instance) bool { return x == in })
	cur := in.cur
	expected := in.killed || e.closed
	e.broadcastLocked()
	e.mu.Unlock()

	ended := cur != nil && e.end(cur, OutcomeCrash, nil)
	if !expected {
		reqID := ""
		if ended {
			reqID = "RequestId: " + cur.id + " "
		}
		if err == nil {
			e.logf(in, "%sError: Runtime exited without providing a reason (Runtime.ExitError)", reqID)
		} else {
			e.logf(in, "%sError: Runtime exited with error: %v (Runtime.ExitError)", reqID, err)
		}
	}
	_ = in.srv.Close()
	in.handlers.Wait()
	close(in.dead)
}

// closeStopLocked closes in.stop once.
func (in *instance) closeStopLocked() {
	if !in.stopClosed {
		in.stopClosed = true
		close(in.stop)
	}
}

// signalLocked sends sig to the instance's process group. The caller holds
// e.mu; it is a no-op once the process has been reaped.
func (in *instance) signalLocked(sig syscall.Signal) {
	if in.pid <= 0 || !in.exited.IsZero() {
		return
	}
	_ = syscall.Kill(-in.pid, sig)
	if sig == syscall.SIGKILL {
		_ = syscall.Kill(in.pid, sig) // in case it left its process group
	}
}

// killLocked kills the instance's processes with SIGKILL.
func (in *instance) killLocked() {
	if in.killed {
		return
	}
	in.killed = true
	in.closeStopLocked()
	if in.frozen {
		in.signalLocked(syscall.SIGCONT)
		in.frozen = false
	}
	in.signalLocked(syscall.SIGKILL)
}

// shutdown stops the instance for Close: SIGTERM and a grace period when
// its runtime registered an extension, SIGKILL otherwise or afterwards. It
// returns once the process has been reaped.
func (in *instance) shutdown() {
	e := in.e
	e.mu.Lock()
	graceful := len(in.extensions) > 0 && !in.killed && in.exited.IsZero()
	if in.frozen {
		in.signalLocked(syscall.SIGCONT)
		in.frozen = false
	}
	if graceful {
		in.termClosed = true
		close(in.term)
		in.signalLocked(syscall.SIGTERM)
	} else {
		in.killLocked()
	}
	e.mu.Unlock()
	if graceful {
		select {
		case <-in.dead:
			return
		case <-time.After(shutdownGrace):
		}
		e.mu.Lock()
		in.killLocked()
		e.mu.Unlock()
	}
	<-in.dead
}

// A prefixWriter writes whole lines to w, each prefixed, under mu.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

// maxLine is the length at which a line without a newline is written anyway.
const maxLine = 64 << 10

// Write buffers p and writes every complete line. It never fails, so that
// the child's output is always drained.
func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			if len(p.buf) >= maxLine {
				p.writeLocked(append(p.buf, '\n'))
				p.buf = p.buf[:0]
			}
			break
		}
		p.writeLocked(p.buf[:i+1])
		p.buf = p.buf[i+1:]
	}
	if len(p.buf) == 0 {
		p.buf = nil
	}
	return len(b), nil
}

func (p *prefixWriter) writeLocked(line []byte) {
	out := make([]byte, 0, len(p.prefix)+len(line))
	out = append(out, p.prefix...)
	out = append(out, line...)
	_, _ = p.w.Write(out)
}

// flush writes a final partial line.
func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.writeLocked(append(p.buf, '\n'))
		p.buf = nil
	}
}
