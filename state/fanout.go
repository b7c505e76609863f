package state

import (
	"sync"
	"time"
)

// A fanout delivers rings and payloads to the local channels returned by
// Watch and Subscribe. It is shared by [Memory] (keys are session IDs and
// topics) and by [Redis] (keys are Redis channel names), so both have the same
// buffering and coalescing semantics:
//
//   - a Watch channel has capacity 1 and rings never block: a ring while a
//     value is pending is merged into it;
//   - a Subscribe channel has capacity subscribeBuffer; a payload that does
//     not fit is dropped for that subscriber only;
//   - stop closes the channel; Close closes all channels.
type fanout struct {
	// keepEmpty leaves entries without listeners in place, for the owner to
	// remove (Redis unsubscribes them first); otherwise they are deleted at once.
	keepEmpty bool
	// changed, if set, is called without the lock held after an entry gained
	// its first listener or lost its last one.
	changed func()
	// dropped, if set, is called with the lock held when a payload is dropped.
	dropped func(key string)

	mu      sync.Mutex
	closed  bool
	entries map[string]*fanEntry
}

// subState tracks the Redis subscription of a channel (unused by Memory).
type subState int

const (
	subNone      subState = iota // no SUBSCRIBE sent on the current connection
	subIssued                    // SUBSCRIBE sent, confirmation pending
	subConfirmed                 // confirmation received: messages flow
)

type fanEntry struct {
	watchers map[chan struct{}]struct{}
	subs     map[chan []byte]struct{}

	// Redis subscription state, guarded by fanout.mu.
	state    subState
	issuedAt time.Time
}

func (e *fanEntry) empty() bool { return len(e.watchers) == 0 && len(e.subs) == 0 }

func newFanout() *fanout {
	return &fanout{entries: make(map[string]*fanEntry)}
}

// entry returns the entry for key, creating it. Called with f.mu held; it
// reports whether the entry just gained its first listener.
func (f *fanout) entry(key string) (*fanEntry, bool) {
	e := f.entries[key]
	if e == nil {
		e = &fanEntry{}
		f.entries[key] = e
	}
	first := e.empty()
	if e.watchers == nil {
		e.watchers = make(map[chan struct{}]struct{})
		e.subs = make(map[chan []byte]struct{})
	}
	return e, first
}

// release is called with f.mu held after a listener was removed from e.
func (f *fanout) release(key string, e *fanEntry) bool {
	if !e.empty() {
		return false
	}
	if !f.keepEmpty && f.entries[key] == e {
		delete(f.entries, key)
	}
	return true
}

func (f *fanout) notify(changed bool) {
	if changed && f.changed != nil {
		f.changed()
	}
}

// watch registers a Watch channel for key.
func (f *fanout) watch(key string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		close(ch)
		return ch, func() {}
	}
	e, first := f.entry(key)
	e.watchers[ch] = struct{}{}
	f.mu.Unlock()
	f.notify(first)

	var once sync.Once
	return ch, func() {
		once.Do(func() {
			f.mu.Lock()
			if f.closed { // Close already closed ch
				f.mu.Unlock()
				return
			}
			delete(e.watchers, ch)
			close(ch)
			last := f.release(key, e)
			f.mu.Unlock()
			f.notify(last)
		})
	}
}

// subscribe registers a Subscribe channel for key.
func (f *fanout) subscribe(key string) (<-chan []byte, func()) {
	ch := make(chan []byte, subscribeBuffer)
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		close(ch)
		return ch, func() {}
	}
	e, first := f.entry(key)
	e.subs[ch] = struct{}{}
	f.mu.Unlock()
	f.notify(first)

	var once sync.Once
	return ch, func() {
		once.Do(func() {
			f.mu.Lock()
			if f.closed {
				f.mu.Unlock()
				return
			}
			delete(e.subs, ch)
			close(ch)
			last := f.release(key, e)
			f.mu.Unlock()
			f.notify(last)
		})
	}
}

func ring(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // a ring is already pending: coalesce
	}
}

// ring rings the watchers of key.
func (f *fanout) ring(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.entries[key]; e != nil {
		for ch := range e.watchers {
			ring(ch)
		}
	}
}

// ringAll rings every watcher.
func (f *fanout) ringAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.entries {
		for ch := range e.watchers {
			ring(ch)
		}
	}
}

// deliver rings the watchers of key and hands payload (copied) to its
// subscribers.
func (f *fanout) deliver(key string, payload []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.entries[key]
	if e == nil {
		return
	}
	for ch := range e.watchers {
		ring(ch)
	}
	for ch := range e.subs {
		select {
		case ch <- append([]byte(nil), payload...):
		default:
			if f.dropped != nil {
				f.dropped(key)
			}
		}
	}
}

// close closes every channel; later watch and subscribe calls return closed
// channels.
func (f *fanout) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	for key, e := range f.entries {
		for ch := range e.watchers {
			close(ch)
		}
		for ch := range e.subs {
			close(ch)
		}
		delete(f.entries, key)
	}
}
