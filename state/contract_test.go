package state

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpfleet/mcpfleet/internal/redistest"
)

// Bounds of the waits in the tests.
const (
	ringWait   = 3 * time.Second        // for an expected ring or message
	quietWait  = 150 * time.Millisecond // to check that nothing arrives
	readyWait  = 5 * time.Second        // for a subscription to become effective
	testBudget = 20 * time.Second       // per subtest context
)

// TestMemory runs the contract suite against Memory. Stores created for the
// same test share one Memory, which stands in for "another instance".
func TestMemory(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	shared := make(map[*testing.T]*Memory)
	testStore(t, func(t *testing.T) Store {
		mu.Lock()
		defer mu.Unlock()
		m := shared[t]
		if m == nil {
			m = NewMemory(MemoryOptions{})
			shared[t] = m
			t.Cleanup(func() { _ = m.Close() })
		}
		return m
	})
}

// TestRedis runs the contract suite against Redis. Every store is a separate
// instance (own client, own pub/sub connection) over one shared server.
func TestRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	testStore(t, func(t *testing.T) Store {
		return newTestRedis(t, &redis.Options{Addr: srv.Addr()}, RedisOptions{})
	})
}

func newTestRedis(t testing.TB, copts *redis.Options, opts RedisOptions) *Redis {
	c := redis.NewClient(copts)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := NewRedis(c, opts)
	t.Cleanup(func() {
		_ = s.Close()
		_ = c.Close()
	})
	return s
}

// testStore is the contract suite of Store. newStore returns a store; all
// stores returned for one (sub)test share one backend, and play different
// instances of a fleet (for Memory they may be the same instance).
func testStore(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, a, b Store)
	}{
		{"Ping", testPing},
		{"CreateLoad", testCreateLoad},
		{"Save", testSave},
		{"TTL", testTTL},
		{"Delete", testDelete},
		{"AppendRead", testAppendRead},
		{"MaxLen", testMaxLen},
		{"ConcurrentAppend", testConcurrentAppend},
		{"Watch", testWatch},
		{"PublishSubscribe", testPublishSubscribe},
		{"ResourceSubscribers", testResourceSubscribers},
		{"SharedKey", testSharedKey},
		{"InvalidArguments", testInvalidArguments},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), testBudget)
			defer cancel()
			tt.run(t, ctx, newStore(t), newStore(t))
		})
	}
}

// --- helpers ---

func randID(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitRing reports whether ch receives a value within d.
func waitRing[T any](ch <-chan T, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// closedWithin reports whether ch is closed within d (values still buffered
// in it are discarded).
func closedWithin[T any](ch <-chan T, d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

func drain[T any](ch <-chan T) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// waitWatchReady waits until a Watch of sessionID on s is effective, then
// discards the rings so far (Redis rings on confirmation).
func waitWatchReady(t testing.TB, s Store, sessionID string, ch <-chan struct{}) {
	t.Helper()
	if r, ok := s.(*Redis); ok {
		waitBusReady(t, r, r.bellKey(sessionID))
	}
	drain(ch)
}

// waitSubscribeReady waits until a Subscribe of topic on s is effective.
func waitSubscribeReady(t testing.TB, s Store, topic string) {
	t.Helper()
	if r, ok := s.(*Redis); ok {
		waitBusReady(t, r, r.topicKey(topic))
	}
}

func waitBusReady(t testing.TB, r *Redis, name string) {
	t.Helper()
	deadline := time.Now().Add(readyWait)
	for !r.bus.ready(name) {
		if time.Now().After(deadline) {
			t.Fatalf("subscription of %s not confirmed within %v", name, readyWait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkPlainError checks that err is an error, but not one of the sentinel
// errors (a caller mistake, not a backend failure).
func checkPlainError(t testing.TB, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error", what)
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrNotFound), errors.Is(err, ErrExists):
		t.Errorf("%s: error %v is a sentinel error", what, err)
	}
}

func mustParseID(t testing.TB, s string) eventID {
	t.Helper()
	id, err := parseEventID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func checkIncreasing(t testing.TB, ids []string) {
	t.Helper()
	for i := 1; i < len(ids); i++ {
		if !mustParseID(t, ids[i-1]).less(mustParseID(t, ids[i])) {
			t.Fatalf("IDs not strictly increasing at %d: %q then %q", i, ids[i-1], ids[i])
		}
	}
}

func eventIDs(evs []Event) []string {
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return ids
}

func sameEvent(a, b Event) bool {
	return a.ID == b.ID && a.Stream == b.Stream && a.Index == b.Index &&
		a.Final == b.Final && bytes.Equal(a.Data, b.Data)
}

// --- contract tests ---

func testPing(t *testing.T, ctx context.Context, a, b Store) {
	must(t, a.Ping(ctx))
}

func testCreateLoad(t *testing.T, ctx context.Context, a, b Store) {
	sid := randID(t, "s-")
	if _, err := a.LoadSession(ctx, sid, time.Minute); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load of unknown session: %v, want ErrNotFound", err)
	}
	must(t, a.CreateSession(ctx, sid, []byte("one"), time.Minute))
	if err := b.CreateSession(ctx, sid, []byte("two"), time.Minute); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	got, err := b.LoadSession(ctx, sid, time.Minute)
	must(t, err)
	if string(got) != "one" {
		t.Fatalf("Load = %q, want %q", got, "one")
	}

	empty := randID(t, "s-")
	must(t, a.CreateSession(ctx, empty, nil, time.Minute))
	got, err = b.LoadSession(ctx, empty, time.Minute)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("Load of empty record = %q", got)
	}
}

func testSave(t *testing.T, ctx context.Context, a, b Store) {
	sid := randID(t, "s-")
	if err := a.SaveSession(ctx, sid, []byte("x"), time.Minute); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Save of unknown session: %v, want ErrNotFound", err)
	}
	if _, err := a.LoadSession(ctx, sid, time.Minute); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Save of unknown session created it: %v", err)
	}
	must(t, a.CreateSession(ctx, sid, []byte("v1"), time.Minute))
	must(t, b.SaveSession(ctx, sid, []byte("v2"), time.Minute))
	got, err := a.LoadSession(ctx, sid, time.Minute)
	must(t, err)
	if string(got) != "v2" {
		t.Fatalf("Load after Save = %q, want v2", got)
	}
}

// testTTL checks expiry and sliding TTLs of sessions, logs, subscriber sets
// and shared keys, sharing the sleeps (about 1.1 s in total). A run whose
// timing assumptions were broken by a slow machine is repeated (at most 3
// times, then the test is skipped).
func testTTL(t *testing.T, ctx context.Context, a, b Store) {
	for attempt := 1; attempt <= 3; attempt++ {
		if ttlScenario(t, ctx, a, b) {
			return
		}
		t.Logf("attempt %d: timing assumptions broken (slow machine), retrying", attempt)
	}
	t.Skip("machine too slow to check TTLs reliably")
}

// ttlScenario reports false if the machine was too slow for the timing
// assumptions of the checks; failed checks are reported on t.
func ttlScenario(t *testing.T, ctx context.Context, a, b Store) bool {
	const ttl = 400 * time.Millisecond
	at := func(frac float64) time.Duration { return time.Duration(frac * float64(ttl)) }
	t0 := time.Now()
	sleepUntil := func(d time.Duration) { time.Sleep(time.Until(t0.Add(d))) }

	slid, idle := randID(t, "s-"), randID(t, "s-")
	uri := randID(t, "file:///ttl/")
	keyName := randID(t, "k-")
	for _, sid := range []string{slid, idle} {
		must(t, a.CreateSession(ctx, sid, []byte(sid), ttl))
		_, err := a.AppendEvents(ctx, sid, []Event{{Data: []byte("e")}}, AppendOptions{TTL: ttl})
		must(t, err)
	}
	must(t, a.AddResourceSubscriber(ctx, uri, slid, ttl))
	key1, err := a.SharedKey(ctx, keyName, 16, ttl)
	must(t, err)
	if time.Since(t0) > at(0.3) {
		return false
	}

	// Everything created so far expires by 1.3 ttl.
	sleepUntil(at(0.5))
	_, err = b.LoadSession(ctx, slid, 3*ttl) // slides record and log to >= 3.5 ttl
	if time.Since(t0) > at(0.9) {
		return false
	}
	must(t, err)

	sleepUntil(at(1.4))
	if _, err := a.LoadSession(ctx, idle, ttl); !errors.Is(err, ErrNotFound) {
		t.Errorf("idle session after its TTL: %v, want ErrNotFound", err)
	}
	if evs, err := a.ReadEvents(ctx, idle, "", 0); err != nil || len(evs) != 0 {
		t.Errorf("idle log after its TTL: %v, %v; want empty", evs, err)
	}
	if id, err := a.LastEventID(ctx, idle); err != nil || id != "" {
		t.Errorf("LastEventID of expired log = %q, %v", id, err)
	}
	if subs, err := a.ResourceSubscribers(ctx, uri); err != nil || len(subs) != 0 {
		t.Errorf("subscribers after their TTL: %v, %v; want none", subs, err)
	}
	key2, err := b.SharedKey(ctx, keyName, 16, ttl)
	must(t, err)
	if bytes.Equal(key1, key2) {
		t.Errorf("shared key survived its TTL")
	}
	// The slid session and its log are alive (reads do not slide).
	evs, errRead := a.ReadEvents(ctx, slid, "", 0)
	_, errLoad := a.LoadSession(ctx, slid, ttl) // slides to now + ttl
	loaded := time.Now()
	if time.Since(t0) > at(3.3) {
		return false
	}
	if errRead != nil || len(evs) != 1 {
		t.Errorf("slid log: %v, %v; want 1 event", evs, errRead)
	}
	must(t, errLoad)

	time.Sleep(time.Until(loaded.Add(at(1.2))))
	if _, err := a.LoadSession(ctx, slid, ttl); !errors.Is(err, ErrNotFound) {
		t.Errorf("slid session after its TTL: %v, want ErrNotFound", err)
	}
	return true
}

func testDelete(t *testing.T, ctx context.Context, a, b Store) {
	sid := randID(t, "s-")
	must(t, a.CreateSession(ctx, sid, []byte("x"), time.Minute))
	_, err := a.AppendEvents(ctx, sid, []Event{{Data: []byte("e1")}, {Data: []byte("e2")}}, AppendOptions{})
	must(t, err)
	ch, stop := a.Watch(sid)
	defer stop()
	waitWatchReady(t, a, sid, ch)

	existed, err := b.DeleteSession(ctx, sid)
	must(t, err)
	if !existed {
		t.Errorf("Delete reported a missing session")
	}
	if !waitRing(ch, ringWait) {
		t.Errorf("Watch did not ring after Delete on another instance")
	}
	if _, err := a.LoadSession(ctx, sid, time.Minute); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load after Delete: %v, want ErrNotFound", err)
	}
	if evs, err := a.ReadEvents(ctx, sid, "", 0); err != nil || len(evs) != 0 {
		t.Errorf("events after Delete: %v, %v", evs, err)
	}
	if id, err := a.LastEventID(ctx, sid); err != nil || id != "" {
		t.Errorf("LastEventID after Delete = %q, %v", id, err)
	}
	if err := a.SaveSession(ctx, sid, []byte("y"), time.Minute); !errors.Is(err, ErrNotFound) {
		t.Errorf("Save after Delete: %v, want ErrNotFound", err)
	}
	existed, err = a.DeleteSession(ctx, sid)
	must(t, err)
	if existed {
		t.Errorf("second Delete reported an existing session")
	}
}

func testAppendRead(t *testing.T, ctx context.Context, a, b Store) {
	sid := randID(t, "s-")
	if evs, err := a.ReadEvents(ctx, sid, "", 0); err != nil || len(evs) != 0 {
		t.Fatalf("ReadEvents of unknown session = %v, %v", evs, err)
	}
	if id, err := a.LastEventID(ctx, sid); err != nil || id != "" {
		t.Fatalf("LastEventID of unknown session = %q, %v", id, err)
	}
	if ids, err := a.AppendEvents(ctx, sid, nil, AppendOptions{}); err != nil || len(ids) != 0 {
		t.Fatalf("empty Append = %v, %v", ids, err)
	}

	batch1 := []Event{
		{Data: nil}, // priming event
		{Stream: "req-1", Index: 1, Data: []byte(`{"a":1}`)},
		{Stream: "req-1", Index: 2, Data: []byte(`{"a":2}`), Final: true},
	}
	ids1, err := a.AppendEvents(ctx, sid, batch1, AppendOptions{})
	must(t, err)
	batch2 := []Event{{Data: []byte("standalone")}, {Stream: "req-2", Index: -7, Data: []byte{0, 1, 255}}}
	ids2, err := b.AppendEvents(ctx, sid, batch2, AppendOptions{})
	must(t, err)
	ids := append(slices.Clone(ids1), ids2...)
	all := append(slices.Clone(batch1), batch2...)
	if len(ids) != 5 {
		t.Fatalf("got %d IDs, want 5", len(ids))
	}
	checkIncreasing(t, ids)
	for i := range all {
		if all[i].ID != ids[i] {
			t.Fatalf("events[%d].ID = %q, want %q", i, all[i].ID, ids[i])
		}
	}

	got, err := b.ReadEvents(ctx, sid, "", 0)
	must(t, err)
	if len(got) != len(all) {
		t.Fatalf("ReadEvents returned %d events, want %d", len(got), len(all))
	}
	for i := range all {
		if !sameEvent(got[i], all[i]) {
			t.Errorf("event %d = %+v, want %+v", i, got[i], all[i])
		}
	}

	cases := []struct {
		after string
		limit int
		want  []string
	}{
		{"", 0, ids},
		{"", -1, ids},
		{"", 2, ids[:2]},
		{"0-0", 0, ids},
		{ids[0], 0, ids[1:]},
		{ids[1], 2, ids[2:4]},
		{ids[4], 0, nil},
		{"18446744073709551615-18446744073709551615", 0, nil},
	}
	for _, c := range cases {
		got, err := a.ReadEvents(ctx, sid, c.after, c.limit)
		must(t, err)
		if g := eventIDs(got); !slices.Equal(g, c.want) && (len(g) != 0 || len(c.want) != 0) {
			t.Errorf("ReadEvents(after %q, limit %d) = %v, want %v", c.after, c.limit, g, c.want)
		}
	}
	// An ID between two events: strictly greater ones only.
	mid := mustParseID(t, ids[2])
	mid.seq++
	if !mid.less(mustParseID(t, ids[3])) {
		mid = mustParseID(t, ids[2]) // adjacent IDs: degenerate to ids[2]
	}
	got, err = a.ReadEvents(ctx, sid, mid.String(), 0)
	must(t, err)
	if g := eventIDs(got); !slices.Equal(g, ids[3:]) {
		t.Errorf("ReadEvents(after %s) = %v, want %v", mid, g, ids[3:])
	}

	last, err := b.LastEventID(ctx, sid)
	must(t, err)
	if last != ids[4] {
		t.Errorf("LastEventID = %q, want %q", last, ids[4])
	}

	for _, bad := range []string{"abc", "1", "1-", "-1", "1-2-3", " 1-2", "1-x", "+", "-", "(1-0", "99999999999999999999-0"} {
		_, err := a.ReadEvents(ctx, sid, bad, 0)
		checkPlainError(t, fmt.Sprintf("ReadEvents(after %q)", bad), err)
	}

	// Later appends get greater IDs.
	more, err := a.AppendEvents(ctx, sid, []Event{{Data: []byte("later")}}, AppendOptions{})
	must(t, err)
	checkIncreasing(t, []string{ids[4], more[0]})
}

func testMaxLen(t *testing.T, ctx context.Context, a, b Store) {
	// Redis trims approximately (MAXLEN ~): at least MaxLen and at most one
	// stream node (100 entries by default) more are kept.
	const maxLen, total, slack = 10, 300, 100
	sid := randID(t, "s-")
	var ids []string
	for i := 0; i < total; i += 50 {
		batch := make([]Event, 50)
		for j := range batch {
			batch[j] = Event{Stream: "s", Index: int64(i + j), Data: []byte(strconv.Itoa(i + j))}
		}
		got, err := a.AppendEvents(ctx, sid, batch, AppendOptions{MaxLen: maxLen})
		must(t, err)
		ids = append(ids, got...)
	}
	evs, err := b.ReadEvents(ctx, sid, "", 0)
	must(t, err)
	n := len(evs)
	if n < maxLen || n > maxLen+slack {
		t.Fatalf("log holds %d events after %d appends with MaxLen %d", n, total, maxLen)
	}
	if g, want := eventIDs(evs), ids[total-n:]; !slices.Equal(g, want) {
		t.Fatalf("kept events are not the newest ones: %v", g)
	}
	if last := evs[n-1]; last.Index != total-1 || string(last.Data) != strconv.Itoa(total-1) {
		t.Fatalf("last event = %+v", last)
	}
	if id, err := b.LastEventID(ctx, sid); err != nil || id != ids[total-1] {
		t.Fatalf("LastEventID = %q, %v; want %q", id, err, ids[total-1])
	}
}

func testConcurrentAppend(t *testing.T, ctx context.Context, a, b Store) {
	const writers, each = 4, 10
	sid := randID(t, "s-")
	var mu sync.Mutex
	var assigned []string
	var wg sync.WaitGroup
	for w := range writers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range each {
				ids, err := s.AppendEvents(ctx, sid, []Event{{Stream: strconv.Itoa(w), Index: int64(i)}}, AppendOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				assigned = append(assigned, ids...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	evs, err := a.ReadEvents(ctx, sid, "", 0)
	must(t, err)
	got := eventIDs(evs)
	checkIncreasing(t, got)
	slices.SortFunc(assigned, func(x, y string) int {
		if mustParseID(t, x).less(mustParseID(t, y)) {
			return -1
		}
		return 1
	})
	if !slices.Equal(got, assigned) {
		t.Fatalf("read IDs %v, assigned %v", got, assigned)
	}
	// Per writer, events are in the order written.
	next := make(map[string]int64)
	for _, ev := range evs {
		if ev.Index != next[ev.Stream] {
			t.Fatalf("writer %s: index %d, want %d", ev.Stream, ev.Index, next[ev.Stream])
		}
		next[ev.Stream]++
	}
}

func testWatch(t *testing.T, ctx context.Context, a, b Store) {
	sid, other := randID(t, "s-"), randID(t, "s-")
	ch, stop := a.Watch(sid)
	if cap(ch) != 1 {
		t.Errorf("Watch channel capacity %d, want 1", cap(ch))
	}
	waitWatchReady(t, a, sid, ch)

	// Appends to another session do not ring.
	_, err := b.AppendEvents(ctx, other, []Event{{Data: []byte("x")}}, AppendOptions{})
	must(t, err)
	if waitRing(ch, quietWait) {
		t.Errorf("Watch rang for an append to another session")
	}

	// An append on another instance rings.
	_, err = b.AppendEvents(ctx, sid, []Event{{Data: []byte("1")}}, AppendOptions{})
	must(t, err)
	if !waitRing(ch, ringWait) {
		t.Fatalf("Watch did not ring after an append on another instance")
	}
	// So does an append on the same instance.
	_, err = a.AppendEvents(ctx, sid, []Event{{Data: []byte("2")}}, AppendOptions{})
	must(t, err)
	if !waitRing(ch, ringWait) {
		t.Fatalf("Watch did not ring after an append on the same instance")
	}

	// Rings coalesce and never block the appender.
	for i := range 20 {
		_, err = b.AppendEvents(ctx, sid, []Event{{Data: []byte(strconv.Itoa(i))}}, AppendOptions{})
		must(t, err)
	}
	if !waitRing(ch, ringWait) {
		t.Fatalf("Watch did not ring after 20 appends")
	}

	// Two watches of one session (ref counted) both ring; stopping one
	// leaves the other working.
	ch2, stop2 := a.Watch(sid)
	waitWatchReady(t, a, sid, ch2)
	drain(ch)
	_, err = b.AppendEvents(ctx, sid, []Event{{Data: []byte("3")}}, AppendOptions{})
	must(t, err)
	if !waitRing(ch, ringWait) || !waitRing(ch2, ringWait) {
		t.Fatalf("both watches should ring")
	}
	stop()
	stop() // idempotent
	if !closedWithin(ch, time.Second) {
		t.Fatalf("Watch channel not closed by stop")
	}
	_, err = b.AppendEvents(ctx, sid, []Event{{Data: []byte("4")}}, AppendOptions{})
	must(t, err)
	if !waitRing(ch2, ringWait) {
		t.Fatalf("remaining watch did not ring")
	}
	stop2()
}

func testPublishSubscribe(t *testing.T, ctx context.Context, a, b Store) {
	topic, other := randID(t, "topic-"), randID(t, "topic-")
	sub1, stop1 := a.Subscribe(topic)
	sub2, stop2 := a.Subscribe(topic)
	sub3, stop3 := b.Subscribe(topic)
	subOther, stopOther := a.Subscribe(other)
	defer stop2()
	defer stop3()
	defer stopOther()
	if cap(sub1) < 1 {
		t.Errorf("Subscribe channel is unbuffered")
	}
	waitSubscribeReady(t, a, topic)
	waitSubscribeReady(t, b, topic)
	waitSubscribeReady(t, a, other)

	must(t, b.Publish(ctx, topic, []byte("hello")))
	for i, ch := range []<-chan []byte{sub1, sub2, sub3} {
		select {
		case got := <-ch:
			if string(got) != "hello" {
				t.Errorf("subscriber %d got %q", i, got)
			}
		case <-time.After(ringWait):
			t.Fatalf("subscriber %d got nothing", i)
		}
	}
	if waitRing(subOther, quietWait) {
		t.Errorf("subscriber of another topic received a message")
	}

	stop1()
	stop1()
	if !closedWithin(sub1, time.Second) {
		t.Fatalf("Subscribe channel not closed by stop")
	}
	for i := range 5 {
		must(t, a.Publish(ctx, topic, []byte(strconv.Itoa(i))))
	}
	for i := range 5 {
		for j, ch := range []<-chan []byte{sub2, sub3} {
			select {
			case got := <-ch:
				if string(got) != strconv.Itoa(i) {
					t.Fatalf("subscriber %d: message %d = %q", j+2, i, got)
				}
			case <-time.After(ringWait):
				t.Fatalf("subscriber %d: message %d missing", j+2, i)
			}
		}
	}

	// A slow subscriber loses messages but does not block the others.
	for i := range 3 * subscribeBuffer {
		must(t, b.Publish(ctx, other, []byte(strconv.Itoa(i))))
	}
	must(t, b.Publish(ctx, topic, []byte("after flood")))
	if got := <-sub2; string(got) != "after flood" {
		t.Fatalf("after flood: got %q", got)
	}
	time.Sleep(quietWait)
	if n := len(subOther); n > cap(subOther) || n == 0 {
		t.Fatalf("slow subscriber holds %d messages", n)
	}
}

func testResourceSubscribers(t *testing.T, ctx context.Context, a, b Store) {
	uri, otherURI := randID(t, "file:///r/"), randID(t, "file:///r/")
	list := func(s Store, uri string) []string {
		t.Helper()
		ids, err := s.ResourceSubscribers(ctx, uri)
		must(t, err)
		slices.Sort(ids)
		return ids
	}
	if ids := list(a, uri); len(ids) != 0 {
		t.Fatalf("unknown URI has subscribers %v", ids)
	}
	must(t, a.AddResourceSubscriber(ctx, uri, "s-a", time.Minute))
	must(t, b.AddResourceSubscriber(ctx, uri, "s-b", time.Minute))
	must(t, a.AddResourceSubscriber(ctx, uri, "s-a", time.Minute))
	must(t, a.AddResourceSubscriber(ctx, otherURI, "s-c", time.Minute))
	if ids := list(b, uri); !slices.Equal(ids, []string{"s-a", "s-b"}) {
		t.Fatalf("subscribers = %v", ids)
	}
	must(t, b.RemoveResourceSubscriber(ctx, uri, "s-a"))
	must(t, b.RemoveResourceSubscriber(ctx, uri, "s-unknown"))
	must(t, b.RemoveResourceSubscriber(ctx, randID(t, "file:///none/"), "s-a"))
	if ids := list(a, uri); !slices.Equal(ids, []string{"s-b"}) {
		t.Fatalf("subscribers after remove = %v", ids)
	}
	if ids := list(a, otherURI); !slices.Equal(ids, []string{"s-c"}) {
		t.Fatalf("subscribers of other URI = %v", ids)
	}
}

func testSharedKey(t *testing.T, ctx context.Context, a, b Store) {
	name := randID(t, "key-")
	k1, err := a.SharedKey(ctx, name, 32, time.Minute)
	must(t, err)
	if len(k1) != 32 {
		t.Fatalf("key length %d, want 32", len(k1))
	}
	if bytes.Equal(k1, make([]byte, 32)) {
		t.Fatalf("key is all zeros")
	}
	k2, err := b.SharedKey(ctx, name, 32, time.Minute)
	must(t, err)
	k3, err := a.SharedKey(ctx, name, 32, time.Minute)
	must(t, err)
	if !bytes.Equal(k1, k2) || !bytes.Equal(k1, k3) {
		t.Fatalf("instances got different keys")
	}
	other, err := b.SharedKey(ctx, randID(t, "key-"), 32, time.Minute)
	must(t, err)
	if bytes.Equal(k1, other) {
		t.Fatalf("two names share a key")
	}

	// Concurrent first use on both instances agrees.
	race := randID(t, "key-")
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			k, err := s.SharedKey(ctx, race, 16, time.Minute)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for i := range keys {
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("concurrent SharedKey calls disagree")
		}
	}
}

func testInvalidArguments(t *testing.T, ctx context.Context, a, b Store) {
	_, err := a.LoadSession(ctx, "", time.Minute)
	checkPlainError(t, "Load of empty ID", err)
	checkPlainError(t, "Create of empty ID", a.CreateSession(ctx, "", nil, time.Minute))
	checkPlainError(t, "Create with zero TTL", a.CreateSession(ctx, randID(t, "s-"), nil, 0))
	_, err = a.LoadSession(ctx, randID(t, "s-"), -time.Second)
	checkPlainError(t, "Load with negative TTL", err)
	_, err = a.AppendEvents(ctx, "", []Event{{}}, AppendOptions{})
	checkPlainError(t, "Append to empty ID", err)
	_, err = a.SharedKey(ctx, "k", 0, time.Minute)
	checkPlainError(t, "SharedKey of size 0", err)
	_, err = a.SharedKey(ctx, "", 16, time.Minute)
	checkPlainError(t, "SharedKey without name", err)
}

func testClose(t *testing.T, ctx context.Context, a, b Store) {
	sid := randID(t, "s-")
	w, stopW := a.Watch(sid)
	sub, stopSub := a.Subscribe("topic")
	must(t, a.Close())
	must(t, a.Close()) // idempotent
	if !closedWithin(w, ringWait) {
		t.Errorf("Watch channel not closed by Close")
	}
	if !closedWithin(sub, ringWait) {
		t.Errorf("Subscribe channel not closed by Close")
	}
	stopW()
	stopSub()

	if err := a.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ping after Close: %v, want ErrUnavailable", err)
	}
	if err := a.CreateSession(ctx, sid, nil, time.Minute); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Create after Close: %v, want ErrUnavailable", err)
	}
	if _, err := a.AppendEvents(ctx, sid, []Event{{}}, AppendOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Append after Close: %v, want ErrUnavailable", err)
	}
	w2, stop2 := a.Watch(sid)
	if !closedWithin(w2, time.Second) {
		t.Errorf("Watch after Close returned an open channel")
	}
	stop2()
	s2, stopS2 := a.Subscribe("topic")
	if !closedWithin(s2, time.Second) {
		t.Errorf("Subscribe after Close returned an open channel")
	}
	stopS2()
}
