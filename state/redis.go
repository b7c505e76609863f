package state

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configures [NewRedis]. The zero value is ready to use.
type RedisOptions struct {
	// Prefix starts every key and channel name; "" means "mcpfleet".
	Prefix string
	// Logger receives the store's diagnostics (pub/sub connection losses,
	// dropped messages); nil means slog.Default().
	Logger *slog.Logger

	// busIdle overrides the pub/sub health-check interval (tests).
	busIdle time.Duration
}

// Redis is a [Store] over a Redis deployment (single node, Sentinel or
// Cluster), shared by every instance of a fleet. See the package
// documentation for the key layout.
//
// Event logs are trimmed approximately (XADD MAXLEN ~): a log may keep
// somewhat more than MaxLen events (up to one stream node, 100 entries with
// the default server configuration), never fewer.
//
// All Watch and Subscribe calls of one Redis store share one pub/sub
// connection. A subscription becomes effective asynchronously; each Watch
// channel therefore rings once when the subscription of its session is
// confirmed by the server (and again after every reconnection), so that a
// caller who reads the log after Watch returns and then waits for a ring
// cannot miss an append. Stop functions and Close close the channels.
type Redis struct {
	c      redis.UniversalClient
	prefix string
	log    *slog.Logger
	closed atomic.Bool
	bus    *bus
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store over client. The caller keeps ownership of
// client: Close does not close it. NewRedis does not contact the server; the
// pub/sub connection is established in the background.
func NewRedis(client redis.UniversalClient, opts RedisOptions) *Redis {
	r := &Redis{c: client, prefix: opts.Prefix, log: opts.Logger}
	if r.prefix == "" {
		r.prefix = "mcpfleet"
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("component", "state.Redis")
	r.bus = newBus(client, r.log, cmp.Or(opts.busIdle, busIdle))
	return r
}

// Key names; see the package documentation.

func (r *Redis) sessionKey(id string) string { return r.prefix + ":{" + id + "}:session" }
func (r *Redis) eventsKey(id string) string  { return r.prefix + ":{" + id + "}:events" }
func (r *Redis) bellKey(id string) string    { return r.prefix + ":{" + id + "}:bell" }
func (r *Redis) topicKey(t string) string    { return r.prefix + ":t:" + t }
func (r *Redis) sharedKey(n string) string   { return r.prefix + ":{k:" + n + "}:key" }
func (r *Redis) subsKey(uri string) string {
	sum := sha256.Sum256([]byte(uri))
	return r.prefix + ":{r:" + hex.EncodeToString(sum[:]) + "}:subs"
}

// wrapErr turns an error of the client into the store's error for op:
// failures of the backend itself (network, timeouts, closed client, and
// server replies meaning "not now" such as LOADING or CLUSTERDOWN) wrap
// ErrUnavailable; other server replies are returned as plain errors.
// Callers handle redis.Nil before.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var rerr redis.Error
	if errors.As(err, &rerr) && !transientReply(err) {
		return fmt.Errorf("state: redis %s: %w", op, err)
	}
	return fmt.Errorf("%w: redis %s: %w", ErrUnavailable, op, err)
}

// transientReply reports server error replies that mean the server cannot
// serve the request right now.
func transientReply(err error) bool {
	return redis.IsLoadingError(err) || redis.IsClusterDownError(err) ||
		redis.IsTryAgainError(err) || redis.IsMasterDownError(err) ||
		redis.IsMaxClientsError(err) || redis.IsReadOnlyError(err) ||
		redis.HasErrorPrefix(err, "BUSY")
}

// pipeErr drops redis.Nil from the error of a pipeline: commands replying
// nil are inspected one by one.
func pipeErr(err error) error {
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

func (r *Redis) check() error {
	if r.closed.Load() {
		return errClosed
	}
	return nil
}

// Ping implements [Store.Ping].
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.check(); err != nil {
		return err
	}
	return wrapErr("PING", r.c.Ping(ctx).Err())
}

// CreateSession implements [Store.CreateSession] with SET NX.
func (r *Redis) CreateSession(ctx context.Context, id string, data []byte, ttl time.Duration) error {
	if err := errors.Join(r.check(), checkID(id), checkTTL(ttl)); err != nil {
		return err
	}
	ok, err := r.c.SetNX(ctx, r.sessionKey(id), data, ttl).Result()
	if err != nil {
		return wrapErr("CreateSession", err)
	}
	if !ok {
		return ErrExists
	}
	return nil
}

// LoadSession implements [Store.LoadSession] with GETEX and EXPIRE in one
// transaction.
func (r *Redis) LoadSession(ctx context.Context, id string, ttl time.Duration) ([]byte, error) {
	if err := errors.Join(r.check(), checkID(id), checkTTL(ttl)); err != nil {
		return nil, err
	}
	// A plain pipeline (not MULTI/EXEC): the two commands need no atomicity,
	// and this is the hot path of every session request.
	var get *redis.StringCmd
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.GetEx(ctx, r.sessionKey(id), ttl)
		p.PExpire(ctx, r.eventsKey(id), ttl)
		return nil
	})
	if err := pipeErr(err); err != nil {
		return nil, wrapErr("LoadSession", err)
	}
	data, err := get.Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, wrapErr("LoadSession", err)
	}
	return data, nil
}

// SaveSession implements [Store.SaveSession] with SET XX.
func (r *Redis) SaveSession(ctx context.Context, id string, data []byte, ttl time.Duration) error {
	if err := errors.Join(r.check(), checkID(id), checkTTL(ttl)); err != nil {
		return err
	}
	ok, err := r.c.SetXX(ctx, r.sessionKey(id), data, ttl).Result()
	if err != nil {
		return wrapErr("SaveSession", err)
	}
	if !ok {
		return ErrNotFound
	}
	return nil
}

// Bell payloads. Watchers only see that the bell rang; the payload helps
// debugging with redis-cli.
const (
	bellAppend = "append"
	bellDelete = "delete"
)

// DeleteSession implements [Store.DeleteSession]: DEL of both keys and
// PUBLISH of the bell in one transaction.
func (r *Redis) DeleteSession(ctx context.Context, id string) (bool, error) {
	if err := errors.Join(r.check(), checkID(id)); err != nil {
		return false, err
	}
	var del *redis.IntCmd
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		del = p.Del(ctx, r.sessionKey(id))
		p.Del(ctx, r.eventsKey(id))
		p.Publish(ctx, r.bellKey(id), bellDelete)
		return nil
	})
	if err != nil {
		return false, wrapErr("DeleteSession", err)
	}
	return del.Val() > 0, nil
}

// Stream entry fields of an event, named like the JSON tags of [Event].
const (
	fieldStream = "s"
	fieldIndex  = "i"
	fieldData   = "d"
	fieldFinal  = "f"
)

// AppendEvents implements [Store.AppendEvents]: one XADD per event (MAXLEN ~),
// EXPIRE of the log and PUBLISH of the bell in one transaction.
func (r *Redis) AppendEvents(ctx context.Context, sessionID string, events []Event, opts AppendOptions) ([]string, error) {
	if err := errors.Join(r.check(), checkID(sessionID)); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, nil
	}
	maxLen, ttl := appendDefaults(opts)
	key := r.eventsKey(sessionID)
	adds := make([]*redis.StringCmd, len(events))
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i, ev := range events {
			values := make([]any, 0, 8)
			values = append(values, fieldData, ev.Data)
			if ev.Stream != "" {
				values = append(values, fieldStream, ev.Stream)
			}
			if ev.Index != 0 {
				values = append(values, fieldIndex, ev.Index)
			}
			if ev.Final {
				values = append(values, fieldFinal, "1")
			}
			adds[i] = p.XAdd(ctx, &redis.XAddArgs{
				Stream: key,
				MaxLen: maxLen,
				Approx: true,
				ID:     "*",
				Values: values,
			})
		}
		p.PExpire(ctx, key, ttl)
		p.Publish(ctx, r.bellKey(sessionID), bellAppend)
		return nil
	})
	if err != nil {
		return nil, wrapErr("AppendEvents", err)
	}
	ids := make([]string, len(events))
	for i, cmd := range adds {
		ids[i] = cmd.Val()
		events[i].ID = ids[i]
	}
	return ids, nil
}

// ReadEvents implements [Store.ReadEvents] with XRANGE from the exclusive
// start "(afterID".
func (r *Redis) ReadEvents(ctx context.Context, sessionID string, afterID string, limit int) ([]Event, error) {
	if err := errors.Join(r.check(), checkID(sessionID)); err != nil {
		return nil, err
	}
	start := "-"
	if afterID != "" {
		id, err := parseEventID(afterID)
		if err != nil {
			return nil, err
		}
		if id == maxEventID { // "(" of the greatest ID is rejected by Redis
			return nil, nil
		}
		start = "(" + id.String()
	}
	key := r.eventsKey(sessionID)
	var msgs []redis.XMessage
	var err error
	if limit > 0 {
		msgs, err = r.c.XRangeN(ctx, key, start, "+", int64(limit)).Result()
	} else {
		msgs, err = r.c.XRange(ctx, key, start, "+").Result()
	}
	if err != nil {
		return nil, wrapErr("ReadEvents", err)
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	events := make([]Event, len(msgs))
	for i, m := range msgs {
		if events[i], err = decodeEvent(m); err != nil {
			return nil, err
		}
	}
	return events, nil
}

func decodeEvent(m redis.XMessage) (Event, error) {
	ev := Event{ID: m.ID}
	str := func(field string) string {
		s, _ := m.Values[field].(string)
		return s
	}
	if d := str(fieldData); d != "" {
		ev.Data = []byte(d)
	}
	ev.Stream = str(fieldStream)
	if s := str(fieldIndex); s != "" {
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Event{}, fmt.Errorf("state: event %s: bad index %q", m.ID, s)
		}
		ev.Index = i
	}
	ev.Final = str(fieldFinal) == "1"
	return ev, nil
}

// LastEventID implements [Store.LastEventID] with XREVRANGE COUNT 1.
func (r *Redis) LastEventID(ctx context.Context, sessionID string) (string, error) {
	if err := errors.Join(r.check(), checkID(sessionID)); err != nil {
		return "", err
	}
	msgs, err := r.c.XRevRangeN(ctx, r.eventsKey(sessionID), "+", "-", 1).Result()
	if err != nil {
		return "", wrapErr("LastEventID", err)
	}
	if len(msgs) == 0 {
		return "", nil
	}
	return msgs[0].ID, nil
}

// Watch implements [Store.Watch] by subscribing to the session's bell on the
// store's shared pub/sub connection.
func (r *Redis) Watch(sessionID string) (<-chan struct{}, func()) {
	return r.bus.fan.watch(r.bellKey(sessionID))
}

// Publish implements [Store.Publish] with PUBLISH on "<prefix>:t:<topic>".
func (r *Redis) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := r.check(); err != nil {
		return err
	}
	return wrapErr("Publish", r.c.Publish(ctx, r.topicKey(topic), payload).Err())
}

// Subscribe implements [Store.Subscribe] on the store's shared pub/sub
// connection. Messages published before the subscription is confirmed by the
// server are not received.
func (r *Redis) Subscribe(topic string) (<-chan []byte, func()) {
	return r.bus.fan.subscribe(r.topicKey(topic))
}

// AddResourceSubscriber implements [Store.AddResourceSubscriber] with SADD
// and EXPIRE in one transaction.
func (r *Redis) AddResourceSubscriber(ctx context.Context, uri, sessionID string, ttl time.Duration) error {
	if err := errors.Join(r.check(), checkID(sessionID), checkTTL(ttl)); err != nil {
		return err
	}
	key := r.subsKey(uri)
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, key, sessionID)
		p.PExpire(ctx, key, ttl)
		return nil
	})
	return wrapErr("AddResourceSubscriber", err)
}

// RemoveResourceSubscriber implements [Store.RemoveResourceSubscriber] with
// SREM.
func (r *Redis) RemoveResourceSubscriber(ctx context.Context, uri, sessionID string) error {
	if err := r.check(); err != nil {
		return err
	}
	return wrapErr("RemoveResourceSubscriber", r.c.SRem(ctx, r.subsKey(uri), sessionID).Err())
}

// ResourceSubscribers implements [Store.ResourceSubscribers] with SMEMBERS.
// The order of the IDs is unspecified.
func (r *Redis) ResourceSubscribers(ctx context.Context, uri string) ([]string, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	ids, err := r.c.SMembers(ctx, r.subsKey(uri)).Result()
	if err != nil {
		return nil, wrapErr("ResourceSubscribers", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return ids, nil
}

// SharedKey implements [Store.SharedKey] with SET NX and GETEX in one
// transaction. An existing key is returned as is, even if its length differs
// from size.
func (r *Redis) SharedKey(ctx context.Context, name string, size int, ttl time.Duration) ([]byte, error) {
	if err := errors.Join(r.check(), checkKeyArgs(name, size, ttl)); err != nil {
		return nil, err
	}
	fresh := make([]byte, size)
	if _, err := io.ReadFull(rand.Reader, fresh); err != nil {
		return nil, fmt.Errorf("state: SharedKey: %w", err)
	}
	key := r.sharedKey(name)
	var get *redis.StringCmd
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, key, fresh, ttl)
		get = p.GetEx(ctx, key, ttl)
		return nil
	})
	if err := pipeErr(err); err != nil {
		return nil, wrapErr("SharedKey", err)
	}
	b, err := get.Bytes()
	if errors.Is(err, redis.Nil) { // expired between SET and GETEX: only with absurdly short TTLs
		return nil, fmt.Errorf("state: SharedKey %q vanished", name)
	}
	if err != nil {
		return nil, wrapErr("SharedKey", err)
	}
	return b, nil
}

// Close stops the store's pub/sub connection and closes every Watch and
// Subscribe channel. The client passed to [NewRedis] is not closed. Later
// calls of the other methods fail with an error wrapping [ErrUnavailable].
// Close is idempotent.
func (r *Redis) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.bus.close()
	return nil
}
