package state

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"sync"
	"time"
)

// MemoryOptions configures [NewMemory]. The zero value is ready to use.
type MemoryOptions struct {
	// Now returns the current time; nil means time.Now. Tests may substitute
	// a fake clock to drive expiry and event IDs.
	Now func() time.Time
	// SweepInterval is how often a background janitor removes expired
	// entries; 0 means one minute. Expired entries are invisible at once
	// regardless; the janitor only bounds memory.
	SweepInterval time.Duration
}

// Memory is a [Store] held in the memory of one process. It is the default
// when no Redis is configured; it cannot share state between instances.
//
// It enforces TTLs like [Redis] (expired entries are invisible), but trims
// event logs to exactly MaxLen entries. Watch and Subscribe channels are
// closed by their stop function and by Close.
type Memory struct {
	now func() time.Time

	mu       sync.Mutex
	closed   bool
	sessions map[string]*memValue
	logs     map[string]*memLog
	subSets  map[string]*memSet
	keys     map[string]*memValue
	lastID   eventID

	fan  *fanout
	stop chan struct{}
	done chan struct{}
}

type memValue struct {
	data    []byte
	expires time.Time
}

type memLog struct {
	events  []Event
	ids     []eventID // parsed IDs of events
	expires time.Time
}

type memSet struct {
	members map[string]struct{}
	expires time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-process store. Call Close to stop its
// janitor goroutine.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{
		now:      opts.Now,
		sessions: make(map[string]*memValue),
		logs:     make(map[string]*memLog),
		subSets:  make(map[string]*memSet),
		keys:     make(map[string]*memValue),
		fan:      newFanout(),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if m.now == nil {
		m.now = time.Now
	}
	interval := opts.SweepInterval
	if interval <= 0 {
		interval = time.Minute
	}
	go m.janitor(interval)
	return m
}

func (m *Memory) janitor(interval time.Duration) {
	defer close(m.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep()
		}
	}
}

// sweep deletes every expired entry.
func (m *Memory) sweep() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for k, v := range m.sessions {
		if expired(v.expires, now) {
			delete(m.sessions, k)
		}
	}
	for k, l := range m.logs {
		if expired(l.expires, now) {
			delete(m.logs, k)
		}
	}
	for k, s := range m.subSets {
		if expired(s.expires, now) {
			delete(m.subSets, k)
		}
	}
	for k, v := range m.keys {
		if expired(v.expires, now) {
			delete(m.keys, k)
		}
	}
}

func expired(expires, now time.Time) bool { return !now.Before(expires) }

// lock locks m and returns the current time, or errClosed.
func (m *Memory) lock() (time.Time, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return time.Time{}, errClosed
	}
	return m.now(), nil
}

// session returns the live session record, deleting it if expired.
func (m *Memory) session(id string, now time.Time) *memValue {
	v := m.sessions[id]
	if v != nil && expired(v.expires, now) {
		delete(m.sessions, id)
		return nil
	}
	return v
}

// log returns the live event log, deleting it if expired.
func (m *Memory) log(id string, now time.Time) *memLog {
	l := m.logs[id]
	if l != nil && expired(l.expires, now) {
		delete(m.logs, id)
		return nil
	}
	return l
}

// Ping reports whether the store is open.
func (m *Memory) Ping(ctx context.Context) error {
	if _, err := m.lock(); err != nil {
		return err
	}
	m.mu.Unlock()
	return nil
}

// CreateSession implements [Store.CreateSession].
func (m *Memory) CreateSession(ctx context.Context, id string, data []byte, ttl time.Duration) error {
	if err := errors.Join(checkID(id), checkTTL(ttl)); err != nil {
		return err
	}
	now, err := m.lock()
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	if m.session(id, now) != nil {
		return ErrExists
	}
	m.sessions[id] = &memValue{data: clone(data), expires: now.Add(ttl)}
	return nil
}

// LoadSession implements [Store.LoadSession].
func (m *Memory) LoadSession(ctx context.Context, id string, ttl time.Duration) ([]byte, error) {
	if err := errors.Join(checkID(id), checkTTL(ttl)); err != nil {
		return nil, err
	}
	now, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	v := m.session(id, now)
	if v == nil {
		return nil, ErrNotFound
	}
	v.expires = now.Add(ttl)
	if l := m.log(id, now); l != nil {
		l.expires = now.Add(ttl)
	}
	return clone(v.data), nil
}

// SaveSession implements [Store.SaveSession].
func (m *Memory) SaveSession(ctx context.Context, id string, data []byte, ttl time.Duration) error {
	if err := errors.Join(checkID(id), checkTTL(ttl)); err != nil {
		return err
	}
	now, err := m.lock()
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	v := m.session(id, now)
	if v == nil {
		return ErrNotFound
	}
	v.data, v.expires = clone(data), now.Add(ttl)
	return nil
}

// DeleteSession implements [Store.DeleteSession].
func (m *Memory) DeleteSession(ctx context.Context, id string) (bool, error) {
	if err := checkID(id); err != nil {
		return false, err
	}
	now, err := m.lock()
	if err != nil {
		return false, err
	}
	existed := m.session(id, now) != nil
	delete(m.sessions, id)
	delete(m.logs, id)
	m.mu.Unlock()
	m.fan.ring(id)
	return existed, nil
}

// AppendEvents implements [Store.AppendEvents]. The log is trimmed to
// exactly opts.MaxLen events.
func (m *Memory) AppendEvents(ctx context.Context, sessionID string, events []Event, opts AppendOptions) ([]string, error) {
	if err := checkID(sessionID); err != nil {
		return nil, err
	}
	maxLen, ttl := appendDefaults(opts)
	now, err := m.lock()
	if err != nil {
		return nil, err
	}
	if len(events) == 0 {
		m.mu.Unlock()
		return nil, nil
	}
	l := m.log(sessionID, now)
	if l == nil {
		l = &memLog{}
		m.logs[sessionID] = l
	}
	ids := make([]string, len(events))
	for i := range events {
		id := m.nextID(now)
		ids[i] = id.String()
		events[i].ID = ids[i]
		ev := events[i]
		ev.Data = clone(ev.Data)
		l.events = append(l.events, ev)
		l.ids = append(l.ids, id)
	}
	if n := int64(len(l.events)); n > maxLen {
		drop := int(n - maxLen)
		l.events = slices.Delete(l.events, 0, drop)
		l.ids = slices.Delete(l.ids, 0, drop)
	}
	l.expires = now.Add(ttl)
	m.mu.Unlock()
	m.fan.ring(sessionID)
	return ids, nil
}

// nextID returns a new event ID greater than every ID issued before by m.
// Called with m.mu held.
func (m *Memory) nextID(now time.Time) eventID {
	ms := uint64(max(now.UnixMilli(), 0))
	if ms > m.lastID.ms {
		m.lastID = eventID{ms: ms}
	} else {
		m.lastID.seq++
	}
	return m.lastID
}

// ReadEvents implements [Store.ReadEvents].
func (m *Memory) ReadEvents(ctx context.Context, sessionID string, afterID string, limit int) ([]Event, error) {
	if err := checkID(sessionID); err != nil {
		return nil, err
	}
	var after eventID
	if afterID != "" {
		var err error
		if after, err = parseEventID(afterID); err != nil {
			return nil, err
		}
	}
	now, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	l := m.log(sessionID, now)
	if l == nil {
		return nil, nil
	}
	start := 0
	if afterID != "" {
		// First index with ID > after.
		start, _ = slices.BinarySearchFunc(l.ids, after, func(id, target eventID) int {
			if id.less(target) || id == target {
				return -1
			}
			return 1
		})
	}
	end := len(l.events)
	if limit > 0 && end-start > limit {
		end = start + limit
	}
	if start >= end {
		return nil, nil
	}
	out := make([]Event, end-start)
	for i, ev := range l.events[start:end] {
		ev.Data = clone(ev.Data)
		out[i] = ev
	}
	return out, nil
}

// LastEventID implements [Store.LastEventID].
func (m *Memory) LastEventID(ctx context.Context, sessionID string) (string, error) {
	if err := checkID(sessionID); err != nil {
		return "", err
	}
	now, err := m.lock()
	if err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	l := m.log(sessionID, now)
	if l == nil || len(l.events) == 0 {
		return "", nil
	}
	return l.events[len(l.events)-1].ID, nil
}

// Watch implements [Store.Watch]. stop closes the channel.
func (m *Memory) Watch(sessionID string) (<-chan struct{}, func()) {
	return m.fan.watch(sessionID)
}

// Publish implements [Store.Publish].
func (m *Memory) Publish(ctx context.Context, topic string, payload []byte) error {
	if _, err := m.lock(); err != nil {
		return err
	}
	m.mu.Unlock()
	m.fan.deliver("t:"+topic, payload)
	return nil
}

// Subscribe implements [Store.Subscribe]. stop closes the channel.
func (m *Memory) Subscribe(topic string) (<-chan []byte, func()) {
	// Topic keys are prefixed so that they never meet session IDs.
	return m.fan.subscribe("t:" + topic)
}

// AddResourceSubscriber implements [Store.AddResourceSubscriber].
func (m *Memory) AddResourceSubscriber(ctx context.Context, uri, sessionID string, ttl time.Duration) error {
	if err := errors.Join(checkID(sessionID), checkTTL(ttl)); err != nil {
		return err
	}
	now, err := m.lock()
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	s := m.subSet(uri, now)
	if s == nil {
		s = &memSet{members: make(map[string]struct{})}
		m.subSets[uri] = s
	}
	s.members[sessionID] = struct{}{}
	s.expires = now.Add(ttl)
	return nil
}

func (m *Memory) subSet(uri string, now time.Time) *memSet {
	s := m.subSets[uri]
	if s != nil && expired(s.expires, now) {
		delete(m.subSets, uri)
		return nil
	}
	return s
}

// RemoveResourceSubscriber implements [Store.RemoveResourceSubscriber].
func (m *Memory) RemoveResourceSubscriber(ctx context.Context, uri, sessionID string) error {
	now, err := m.lock()
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	if s := m.subSet(uri, now); s != nil {
		delete(s.members, sessionID)
		if len(s.members) == 0 {
			delete(m.subSets, uri)
		}
	}
	return nil
}

// ResourceSubscribers implements [Store.ResourceSubscribers]. The IDs are
// sorted.
func (m *Memory) ResourceSubscribers(ctx context.Context, uri string) ([]string, error) {
	now, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	s := m.subSet(uri, now)
	if s == nil {
		return nil, nil
	}
	ids := make([]string, 0, len(s.members))
	for id := range s.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// SharedKey implements [Store.SharedKey]. An existing key is returned as is,
// even if its length differs from size.
func (m *Memory) SharedKey(ctx context.Context, name string, size int, ttl time.Duration) ([]byte, error) {
	if err := checkKeyArgs(name, size, ttl); err != nil {
		return nil, err
	}
	now, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	v := m.keys[name]
	if v == nil || expired(v.expires, now) {
		v = &memValue{data: make([]byte, size)}
		_, _ = rand.Read(v.data) // never fails (crypto/rand)
		m.keys[name] = v
	}
	v.expires = now.Add(ttl)
	return clone(v.data), nil
}

// Close stops the janitor and closes every Watch and Subscribe channel.
// Later calls of the other methods fail with an error wrapping
// [ErrUnavailable]. Close is idempotent.
func (m *Memory) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.sessions, m.logs, m.subSets, m.keys = nil, nil, nil, nil
	m.mu.Unlock()
	close(m.stop)
	<-m.done
	m.fan.close()
	return nil
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}
