//go:build unix

package lambdaemu

import "time"

// Outcome is how an invocation ended.
type Outcome string

// Outcomes of an invocation.
const (
	// OutcomePending: the invocation has not ended yet.
	OutcomePending Outcome = ""
	// OutcomeSuccess: the response was received in full.
	OutcomeSuccess Outcome = "success"
	// OutcomeError: a function error (/error, an error trailer on the
	// response, a response Lambda cannot use or one over the size limit);
	// the client got 502, or a cut stream if the response had started.
	OutcomeError Outcome = "error"
	// OutcomeTimeout: the deadline passed first; the instance was killed.
	OutcomeTimeout Outcome = "timeout"
	// OutcomeCrash: the instance exited, reported an init error or broke
	// its Runtime API connection before the invocation completed.
	OutcomeCrash Outcome = "crash"
	// OutcomeThrottled: every instance was busy at the limit; 429.
	OutcomeThrottled Outcome = "throttled"
)

// Stats is a snapshot of an emulator's activity.
type Stats struct {
	// Instances lists every instance ever started, in start order
	// (Instances[i].ID == i+1), live or not.
	Instances []InstanceStats
	// Invocations lists every invocation that reached an instance or was
	// throttled, in arrival order of their assignment.
	Invocations []InvocationStats
	// Throttles counts the 429 responses.
	Throttles int
}

// InstanceStats describes one instance (one process).
type InstanceStats struct {
	// ID numbers instances from 1; Output lines are prefixed "[i<ID>] ".
	ID int
	// PID is the process ID (also its process group ID).
	PID int
	// RuntimeAPI is the instance's AWS_LAMBDA_RUNTIME_API, "127.0.0.1:PORT".
	RuntimeAPI string
	// Started is when the process was started.
	Started time.Time
	// FirstNext is when it first called /next (end of init); zero before.
	FirstNext time.Time
	// FirstByte is when the first byte of its first invocation's response
	// (the status line) was written to the client; zero before.
	FirstByte time.Time
	// Invocations counts the invocations assigned to it.
	Invocations int
	// Errors counts those that did not succeed.
	Errors int
	// Frozen reports whether it is stopped (SIGSTOP) right now; Freezes
	// counts how many times it was stopped.
	Frozen  bool
	Freezes int
	// TimedOut reports that it was killed because an invocation passed its
	// deadline.
	TimedOut bool
	// Exited is when the process exited (zero while it runs); ExitError is
	// the wait status ("" for exit status 0, else e.g. "exit status 3" or
	// "signal: killed").
	Exited    time.Time
	ExitError string
	// Extensions lists the names of extensions the runtime registered
	// (e.g. "GoLangEnableSIGTERM").
	Extensions []string
}

// InitDuration is the time from process start to its first /next, or 0.
func (s InstanceStats) InitDuration() time.Duration {
	if s.FirstNext.IsZero() {
		return 0
	}
	return s.FirstNext.Sub(s.Started)
}

// ColdStart is the time from process start to the first response byte of
// its first invocation, or 0 if none was written.
func (s InstanceStats) ColdStart() time.Duration {
	if s.FirstByte.IsZero() {
		return 0
	}
	return s.FirstByte.Sub(s.Started)
}

// InvocationStats describes one invocation.
type InvocationStats struct {
	// RequestID is the Lambda request ID (also requestContext.requestId and
	// the x-amzn-RequestId response header).
	RequestID string
	// Instance is the ID of the instance it was assigned to; 0 if throttled.
	Instance int
	// Arrived is when the request reached the front end; Deadline is
	// Arrived plus the function timeout.
	Arrived  time.Time
	Deadline time.Time
	// Dispatched is when /next returned it to the instance; zero if never.
	Dispatched time.Time
	// FirstByte is when the status line was written to the client.
	FirstByte time.Time
	// Completed is when the outcome was decided (response fully received,
	// error reported, deadline passed, instance exited).
	Completed time.Time
	// Status is the HTTP status sent to the client (0 if none was sent).
	Status int
	// Outcome is how it ended.
	Outcome Outcome
	// ClientGone reports that the client went away before the response
	// ended; the invocation then ran on and its output was discarded.
	ClientGone bool
}

// Stats returns a snapshot of the emulator's instances and invocations.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Stats{Throttles: e.throttles}
	for _, in := range e.all {
		is := InstanceStats{
			ID:          in.id,
			PID:         in.pid,
			RuntimeAPI:  in.addr,
			Started:     in.started,
			FirstNext:   in.firstNext,
			FirstByte:   in.firstByte,
			Invocations: in.invocations,
			Errors:      in.errors,
			Frozen:      in.frozen,
			Freezes:     in.freezes,
			TimedOut:    in.timedOut,
			Exited:      in.exited,
			ExitError:   in.exitErr,
		}
		for _, x := range in.extensions {
			is.Extensions = append(is.Extensions, x.name)
		}
		s.Instances = append(s.Instances, is)
	}
	for _, inv := range e.invocations {
		vs := InvocationStats{
			RequestID:  inv.id,
			Arrived:    inv.arrived,
			Deadline:   inv.deadline,
			Dispatched: inv.dispatched,
			FirstByte:  inv.firstByte,
			Completed:  inv.completed,
			Status:     inv.status,
			Outcome:    inv.outcome,
			ClientGone: inv.clientGone,
		}
		if inv.inst != nil {
			vs.Instance = inv.inst.id
		}
		s.Invocations = append(s.Invocations, vs)
	}
	return s
}
