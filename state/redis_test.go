package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpfleet/mcpfleet/internal/redistest"
)

// shortTimeouts makes a client give up quickly when the server is down.
func shortTimeouts(addr string) *redis.Options {
	return &redis.Options{
		Addr:         addr,
		DialTimeout:  200 * time.Millisecond,
		ReadTimeout:  300 * time.Millisecond,
		WriteTimeout: 300 * time.Millisecond,
		PoolTimeout:  300 * time.Millisecond,
		MaxRetries:   1,
		// go-redis dials 5 times, 100 ms apart, before failing a command.
		DialerRetries: 1,
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// TestRedisUnavailable stops the server under a store: every method fails
// quickly with ErrUnavailable; after a restart the same store works again and
// its watchers are rung.
func TestRedisUnavailable(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := newTestRedis(t, shortTimeouts(srv.Addr()), RedisOptions{Logger: testLogger(t)})
	ctx := context.Background()

	sid := randID(t, "s-")
	must(t, s.CreateSession(ctx, sid, []byte("x"), time.Minute))
	w, stopW := s.Watch(sid)
	defer stopW()
	waitWatchReady(t, s, sid, w)
	sub, stopSub := s.Subscribe("news")
	defer stopSub()
	waitSubscribeReady(t, s, "news")

	srv.Stop()
	// The loss of the connection rings every watcher once (signals may be
	// missed from now on).
	if !waitRing(w, 5*time.Second) {
		t.Errorf("Watch did not ring when the connection was lost")
	}
	drain(w)

	const bound = 3 * time.Second
	ops := map[string]func(ctx context.Context) error{
		"Ping":   s.Ping,
		"Create": func(ctx context.Context) error { return s.CreateSession(ctx, randID(t, "s-"), nil, time.Minute) },
		"Load":   func(ctx context.Context) error { _, err := s.LoadSession(ctx, sid, time.Minute); return err },
		"Save":   func(ctx context.Context) error { return s.SaveSession(ctx, sid, nil, time.Minute) },
		"Delete": func(ctx context.Context) error { _, err := s.DeleteSession(ctx, sid); return err },
		"Append": func(ctx context.Context) error {
			_, err := s.AppendEvents(ctx, sid, []Event{{Data: []byte("e")}}, AppendOptions{})
			return err
		},
		"Read":        func(ctx context.Context) error { _, err := s.ReadEvents(ctx, sid, "", 0); return err },
		"LastEventID": func(ctx context.Context) error { _, err := s.LastEventID(ctx, sid); return err },
		"Publish":     func(ctx context.Context) error { return s.Publish(ctx, "news", []byte("x")) },
		"AddSub":      func(ctx context.Context) error { return s.AddResourceSubscriber(ctx, "u", sid, time.Minute) },
		"RemoveSub":   func(ctx context.Context) error { return s.RemoveResourceSubscriber(ctx, "u", sid) },
		"Subs":        func(ctx context.Context) error { _, err := s.ResourceSubscribers(ctx, "u"); return err },
		"SharedKey":   func(ctx context.Context) error { _, err := s.SharedKey(ctx, "k", 16, time.Minute); return err },
	}
	for name, op := range ops {
		ctx, cancel := context.WithTimeout(ctx, 2*bound)
		start := time.Now()
		err := op(ctx)
		elapsed := time.Since(start)
		cancel()
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s with server down: %v, want ErrUnavailable", name, err)
		} else if !strings.HasPrefix(err.Error(), ErrUnavailable.Error()+": redis ") || len(err.Error()) < len(ErrUnavailable.Error())+20 {
			t.Errorf("%s: error %q lost its cause", name, err)
		} else if name == "Ping" {
			t.Logf("%s: %v", name, err)
		}
		if elapsed > bound {
			t.Errorf("%s took %v with server down, want < %v", name, elapsed, bound)
		}
	}
	// Watches and subscriptions made while the server is down are fine.
	w2, stopW2 := s.Watch(randID(t, "s-"))
	defer stopW2()
	if waitRing(w, 200*time.Millisecond) {
		t.Errorf("Watch rang again while the server is down")
	}

	srv.Restart()
	if !waitRing(w, 10*time.Second) {
		t.Fatalf("Watch did not ring after the server came back")
	}
	if !waitRing(w2, 10*time.Second) {
		t.Fatalf("Watch made during the outage did not ring after the server came back")
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("store still unavailable 5s after restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The data set is gone (no persistence); the store works again.
	must(t, s.CreateSession(ctx, sid, []byte("again"), time.Minute))
	got, err := s.LoadSession(ctx, sid, time.Minute)
	must(t, err)
	if string(got) != "again" {
		t.Fatalf("Load after restart = %q", got)
	}

	// Pub/sub works again, across instances.
	other := newTestRedis(t, shortTimeouts(srv.Addr()), RedisOptions{})
	waitWatchReady(t, s, sid, w)
	_, err = other.AppendEvents(ctx, sid, []Event{{Data: []byte("e")}}, AppendOptions{})
	must(t, err)
	if !waitRing(w, ringWait) {
		t.Fatalf("Watch did not ring for an append after restart")
	}
	waitSubscribeReady(t, s, "news")
	must(t, other.Publish(ctx, "news", []byte("back")))
	select {
	case got := <-sub:
		if string(got) != "back" {
			t.Fatalf("got %q after restart", got)
		}
	case <-time.After(ringWait):
		t.Fatalf("Subscribe received nothing after restart")
	}
}

// TestRedisDownAtStart creates a store while the server is down.
func TestRedisDownAtStart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	srv.Stop()
	s := newTestRedis(t, shortTimeouts(srv.Addr()), RedisOptions{})
	sid := randID(t, "s-")
	w, stop := s.Watch(sid)
	defer stop()
	if err := s.Ping(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ping: %v, want ErrUnavailable", err)
	}
	time.Sleep(300 * time.Millisecond) // let the bus fail a few times
	srv.Restart()
	waitWatchReady(t, s, sid, w)
	other := newTestRedis(t, shortTimeouts(srv.Addr()), RedisOptions{})
	_, err := other.AppendEvents(context.Background(), sid, []Event{{}}, AppendOptions{})
	must(t, err)
	if !waitRing(w, ringWait) {
		t.Fatalf("Watch did not ring")
	}
}

// TestRedisMultiplexed checks that all watches and subscriptions of a store
// share one pub/sub connection, and that channels are unsubscribed when their
// last listener stops.
func TestRedisMultiplexed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer admin.Close()
	ctx := context.Background()
	s := newTestRedis(t, &redis.Options{Addr: srv.Addr()}, RedisOptions{})

	var stops []func()
	sids := make([]string, 50)
	for i := range sids {
		sids[i] = randID(t, "s-")
		ch, stop := s.Watch(sids[i])
		stops = append(stops, stop)
		waitWatchReady(t, s, sids[i], ch)
	}
	for _, topic := range []string{"a", "b", "c"} {
		_, stop := s.Subscribe(topic)
		stops = append(stops, stop)
		waitSubscribeReady(t, s, topic)
	}
	_, stopDup := s.Watch(sids[0]) // second watch of one session
	defer stopDup()

	clients, err := admin.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub").Text()
	must(t, err)
	if n := strings.Count(strings.TrimSpace(clients), "\n") + 1; strings.TrimSpace(clients) == "" || n != 1 {
		t.Fatalf("%d pub/sub connections, want 1:\n%s", n, clients)
	}
	numsub := func(name string) int64 {
		m, err := admin.PubSubNumSub(ctx, name).Result()
		must(t, err)
		return m[name]
	}
	if n := numsub(s.bellKey(sids[1])); n != 1 {
		t.Fatalf("bell has %d subscribers, want 1", n)
	}

	for _, stop := range stops {
		stop()
	}
	deadline := time.Now().Add(readyWait)
	for numsub(s.bellKey(sids[1])) != 0 || numsub(s.topicKey("a")) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("channels still subscribed after their listeners stopped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The session with a remaining watch stays subscribed.
	if n := numsub(s.bellKey(sids[0])); n != 1 {
		t.Fatalf("bell with a remaining watch has %d subscribers, want 1", n)
	}
}

// TestRedisKeyLayout checks the key names of the package documentation and
// that every key has a TTL.
func TestRedisKeyLayout(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer admin.Close()
	ctx := context.Background()
	s := newTestRedis(t, &redis.Options{Addr: srv.Addr()}, RedisOptions{Prefix: "pfx"})

	must(t, s.CreateSession(ctx, "sid1", []byte("x"), time.Minute))
	_, err := s.AppendEvents(ctx, "sid1", []Event{{Data: []byte("e")}}, AppendOptions{TTL: time.Minute})
	must(t, err)
	must(t, s.AddResourceSubscriber(ctx, "file:///a", "sid1", time.Minute))
	_, err = s.SharedKey(ctx, "cursor", 32, time.Minute)
	must(t, err)

	sum := sha256.Sum256([]byte("file:///a"))
	want := map[string]string{
		"pfx:{sid1}:session": "string",
		"pfx:{sid1}:events":  "stream",
		"pfx:{r:" + hex.EncodeToString(sum[:]) + "}:subs": "set",
		"pfx:{k:cursor}:key":                              "string",
	}
	keys, err := admin.Keys(ctx, "*").Result()
	must(t, err)
	if len(keys) != len(want) {
		t.Errorf("keys = %v, want %d keys", keys, len(want))
	}
	for key, typ := range want {
		if got := admin.Type(ctx, key).Val(); got != typ {
			t.Errorf("%s: type %q, want %q", key, got, typ)
		}
		if ttl := admin.PTTL(ctx, key).Val(); ttl <= 0 {
			t.Errorf("%s: no TTL (%v)", key, ttl)
		}
	}
	if got := s.topicKey("x"); got != "pfx:t:x" {
		t.Errorf("topic channel %q", got)
	}
	if got := s.bellKey("sid1"); got != "pfx:{sid1}:bell" {
		t.Errorf("bell channel %q", got)
	}

	// Load slides both the record and the log.
	must(t, admin.PExpire(ctx, "pfx:{sid1}:events", time.Second).Err())
	_, err = s.LoadSession(ctx, "sid1", time.Hour)
	must(t, err)
	if ttl := admin.PTTL(ctx, "pfx:{sid1}:events").Val(); ttl < 59*time.Minute {
		t.Errorf("log TTL after Load = %v, want about 1h", ttl)
	}
}

// TestRedisReplyError checks that an error reply of the server is not
// reported as ErrUnavailable.
func TestRedisReplyError(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer admin.Close()
	ctx := context.Background()
	s := newTestRedis(t, &redis.Options{Addr: srv.Addr()}, RedisOptions{})

	must(t, admin.Set(ctx, s.eventsKey("sid"), "not a stream", time.Minute).Err())
	_, err := s.ReadEvents(ctx, "sid", "", 0)
	checkPlainError(t, "ReadEvents of a string key", err)
	if !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("error %q lost its cause", err)
	}
	_, err = s.AppendEvents(ctx, "sid", []Event{{}}, AppendOptions{})
	checkPlainError(t, "AppendEvents to a string key", err)
}

// BenchmarkRedisLoadSession measures LoadSession (GETEX + EXPIRE in one
// round trip) against a local redis-server.
func BenchmarkRedisLoadSession(b *testing.B) {
	srv := redistest.Start(b)
	s := newTestRedis(b, &redis.Options{Addr: srv.Addr()}, RedisOptions{})
	ctx := context.Background()
	must(b, s.CreateSession(ctx, "bench", make([]byte, 512), time.Hour))
	_, err := s.AppendEvents(ctx, "bench", []Event{{Data: []byte("e")}}, AppendOptions{})
	must(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.LoadSession(ctx, "bench", time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// pubsubClientIDs returns the IDs of the server's pub/sub connections.
func pubsubClientIDs(t *testing.T, admin *redis.Client) []string {
	t.Helper()
	list, err := admin.Do(context.Background(), "CLIENT", "LIST", "TYPE", "pubsub").Text()
	must(t, err)
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// TestRedisHealthCheck checks that an idle pub/sub connection is kept (the
// health-check pings are answered, nothing rings), and that a connection
// that stops answering is replaced and its watchers rung.
func TestRedisHealthCheck(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer admin.Close()
	ctx := context.Background()
	s := newTestRedis(t, &redis.Options{Addr: srv.Addr()}, RedisOptions{busIdle: 100 * time.Millisecond, Logger: testLogger(t)})

	sid := randID(t, "s-")
	w, stop := s.Watch(sid)
	defer stop()
	waitWatchReady(t, s, sid, w)
	before := pubsubClientIDs(t, admin)
	if waitRing(w, 400*time.Millisecond) { // 4 health checks
		t.Fatalf("idle Watch rang")
	}
	if after := pubsubClientIDs(t, admin); len(before) != 1 || !slices.Equal(before, after) {
		t.Fatalf("pub/sub connections changed while idle: %v -> %v", before, after)
	}

	// The server stops answering (the socket stays open).
	must(t, admin.Do(ctx, "CLIENT", "PAUSE", "500", "ALL").Err())
	if !waitRing(w, 5*time.Second) {
		t.Fatalf("Watch did not ring after the connection was replaced")
	}
	waitWatchReady(t, s, sid, w)
	if after := pubsubClientIDs(t, admin); len(after) != 1 || slices.Equal(before, after) {
		t.Fatalf("pub/sub connection not replaced: %v -> %v", before, after)
	}
	other := newTestRedis(t, &redis.Options{Addr: srv.Addr()}, RedisOptions{})
	_, err := other.AppendEvents(ctx, sid, []Event{{}}, AppendOptions{})
	must(t, err)
	if !waitRing(w, ringWait) {
		t.Fatalf("Watch did not ring for an append after the replacement")
	}
}
