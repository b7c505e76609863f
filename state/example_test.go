package state_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpfleet/mcpfleet/state"
)

// A session's life in the in-process store: create, append events, replay
// after an event ID, and wait for new events with Watch.
func ExampleMemory() {
	ctx := context.Background()
	store := state.NewMemory(state.MemoryOptions{})
	defer store.Close()

	if err := store.CreateSession(ctx, "sess-1", []byte(`{"proto":"2025-06-18"}`), 30*time.Minute); err != nil {
		panic(err)
	}
	ids, err := store.AppendEvents(ctx, "sess-1", []state.Event{
		{Stream: "req-1", Index: 0, Data: []byte(`{"jsonrpc":"2.0","method":"notifications/progress"}`)},
		{Stream: "req-1", Index: 1, Data: []byte(`{"jsonrpc":"2.0","id":1,"result":{}}`), Final: true},
	}, state.AppendOptions{})
	if err != nil {
		panic(err)
	}

	// A client reconnecting with Last-Event-ID = ids[0] gets the rest.
	events, err := store.ReadEvents(ctx, "sess-1", ids[0], 0)
	if err != nil {
		panic(err)
	}
	for _, ev := range events {
		fmt.Printf("%s #%d final=%v %s\n", ev.Stream, ev.Index, ev.Final, ev.Data)
	}

	// Watch rings after every append (on any instance, for Redis).
	ring, stop := store.Watch("sess-1")
	defer stop()
	if _, err := store.AppendEvents(ctx, "sess-1", []state.Event{{Data: []byte(`{}`)}}, state.AppendOptions{}); err != nil {
		panic(err)
	}
	<-ring
	fmt.Println("new events")

	if _, err := store.LoadSession(ctx, "sess-2", 30*time.Minute); err == state.ErrNotFound {
		fmt.Println("sess-2: not found")
	}
	// Output:
	// req-1 #1 final=true {"jsonrpc":"2.0","id":1,"result":{}}
	// new events
	// sess-2: not found
}

// A store shared by a fleet through Redis. Every instance creates its own
// store over its own client; the client stays the caller's to close.
func ExampleRedis() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	store := state.NewRedis(client, state.RedisOptions{Prefix: "mcpfleet"})
	defer store.Close()

	ctx := context.Background()
	key, err := store.SharedKey(ctx, "event-id-hmac", 32, 24*time.Hour)
	if err != nil {
		// errors.Is(err, state.ErrUnavailable): Redis is down; retry later.
		fmt.Println(err)
		return
	}
	fmt.Println(len(key))
}
