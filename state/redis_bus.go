package state

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timing of the pub/sub machinery of [Redis].
const (
	// busIdle is how long the receive loop waits for a message before it
	// pings the connection; a ping without any reply within another busIdle
	// means the connection is dead and is replaced.
	busIdle = 3 * time.Second
	// busSyncEvery is how often the subscription set is reconciled even when
	// nothing changed (retries of failed SUBSCRIBE).
	busSyncEvery = time.Second
	// busConfirmWait is how long a SUBSCRIBE may stay unconfirmed before it
	// is sent again.
	busConfirmWait = 5 * time.Second
	// busOpTimeout bounds SUBSCRIBE, UNSUBSCRIBE and PING writes.
	busOpTimeout = 5 * time.Second
	// busBackoffMax caps the pause between receive attempts while the
	// server is unreachable.
	busBackoffMax = time.Second
)

// A bus multiplexes the Watch and Subscribe channels of one [Redis] store over
// one go-redis PubSub connection.
//
// Listeners register in fan (keyed by Redis channel name) without blocking;
// the sync goroutine reconciles the server-side subscriptions with the
// registered channels (SUBSCRIBE on first listener, UNSUBSCRIBE after the
// last one left). The receive goroutine dispatches messages and tracks
// subscription confirmations: a confirmation rings the channel's watchers,
// which covers both the first subscription (closing the window in which an
// append could be missed) and every automatic resubscription of go-redis
// after a reconnect. After a receive error, all watchers are rung once the
// connection works again.
type bus struct {
	client redis.UniversalClient
	log    *slog.Logger
	fan    *fanout
	idle   time.Duration // see busIdle

	psMu sync.Mutex
	ps   *redis.PubSub

	kick chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

func newBus(client redis.UniversalClient, log *slog.Logger, idle time.Duration) *bus {
	b := &bus{
		client: client,
		log:    log,
		fan:    newFanout(),
		idle:   idle,
		ps:     client.Subscribe(context.Background()), // connects lazily
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
	}
	b.fan.keepEmpty = true
	b.fan.changed = b.poke
	b.fan.dropped = func(key string) {
		b.log.Debug("state: subscriber too slow, message dropped", "channel", key)
	}
	b.wg.Add(2)
	go b.syncLoop()
	go b.receiveLoop()
	return b
}

func (b *bus) poke() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

func (b *bus) pubsub() *redis.PubSub {
	b.psMu.Lock()
	defer b.psMu.Unlock()
	return b.ps
}

func (b *bus) close() {
	close(b.stop)
	b.psMu.Lock()
	_ = b.ps.Close() // unblocks the receive loop
	b.psMu.Unlock()
	b.wg.Wait()
	b.fan.close()
}

func (b *bus) stopped() bool {
	select {
	case <-b.stop:
		return true
	default:
		return false
	}
}

func (b *bus) syncLoop() {
	defer b.wg.Done()
	t := time.NewTicker(busSyncEvery)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-b.kick:
		case <-t.C:
		}
		b.sync()
	}
}

// sync sends UNSUBSCRIBE for channels without listeners and SUBSCRIBE for
// channels with listeners that are not (or no longer) subscribed.
func (b *bus) sync() {
	now := time.Now()
	var subs, unsubs []string
	b.fan.mu.Lock()
	for name, e := range b.fan.entries {
		switch {
		case e.empty():
			if e.state != subNone {
				unsubs = append(unsubs, name)
			}
			delete(b.fan.entries, name)
		case e.state == subNone,
			e.state == subIssued && now.Sub(e.issuedAt) > busConfirmWait:
			subs = append(subs, name)
			e.state, e.issuedAt = subIssued, now
		}
	}
	b.fan.mu.Unlock()
	if len(subs) == 0 && len(unsubs) == 0 {
		return
	}

	ps := b.pubsub()
	ctx, cancel := context.WithTimeout(context.Background(), busOpTimeout)
	defer cancel()
	if len(unsubs) > 0 {
		if err := ps.Unsubscribe(ctx, unsubs...); err != nil {
			// The server drops subscriptions with the connection; go-redis
			// has forgotten these channels, so they are not resubscribed.
			b.log.Debug("state: pub/sub UNSUBSCRIBE failed", "err", err)
		}
	}
	if len(subs) > 0 {
		if err := ps.Subscribe(ctx, subs...); err != nil {
			b.log.Debug("state: pub/sub SUBSCRIBE failed, will retry", "err", err, "channels", len(subs))
			b.fan.mu.Lock()
			for _, name := range subs {
				if e := b.fan.entries[name]; e != nil && e.state == subIssued && e.issuedAt.Equal(now) {
					e.state = subNone
				}
			}
			b.fan.mu.Unlock()
		}
	}
}

// confirmed records a SUBSCRIBE confirmation and rings the channel's
// watchers.
func (b *bus) confirmed(name string) {
	b.fan.mu.Lock()
	defer b.fan.mu.Unlock()
	e := b.fan.entries[name]
	if e == nil || e.empty() {
		return
	}
	e.state = subConfirmed
	for ch := range e.watchers {
		ring(ch)
	}
}

// lost marks every subscription as unconfirmed after a connection loss:
// go-redis resubscribes on reconnect, and sync sends SUBSCRIBE again if that
// is not confirmed in time.
func (b *bus) lost() {
	now := time.Now()
	b.fan.mu.Lock()
	defer b.fan.mu.Unlock()
	for _, e := range b.fan.entries {
		if e.state == subConfirmed {
			e.state, e.issuedAt = subIssued, now
		}
	}
}

// ready reports whether the subscription of channel name is confirmed.
// Tests use it to know when a Watch or Subscribe is effective.
func (b *bus) ready(name string) bool {
	b.fan.mu.Lock()
	defer b.fan.mu.Unlock()
	e := b.fan.entries[name]
	return e != nil && e.state == subConfirmed
}

// replace closes the PubSub and starts a fresh one; sync subscribes every
// channel again on it. Used when the connection stops answering pings.
func (b *bus) replace() {
	b.psMu.Lock()
	if b.stopped() {
		b.psMu.Unlock()
		return
	}
	old := b.ps
	b.ps = b.client.Subscribe(context.Background())
	b.psMu.Unlock()
	_ = old.Close()

	b.fan.mu.Lock()
	for _, e := range b.fan.entries {
		e.state = subNone
	}
	b.fan.mu.Unlock()
	b.poke()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (b *bus) receiveLoop() {
	defer b.wg.Done()
	var (
		down        bool // the connection failed; ring everyone when it works again
		pingPending bool // a PING was sent and nothing was received since
		backoff     time.Duration
	)
	for !b.stopped() {
		ps := b.pubsub()
		msg, err := ps.ReceiveTimeout(context.Background(), b.idle)
		if err != nil {
			switch {
			case b.stopped():
				return
			case errors.Is(err, redis.ErrClosed) && b.pubsub() != ps:
				// Replaced by replace: use the current PubSub.
				continue
			case isTimeout(err) && !pingPending:
				// Idle: probe the connection.
				pingPending = true
				ctx, cancel := context.WithTimeout(context.Background(), busOpTimeout)
				err = ps.Ping(ctx)
				cancel()
				if err == nil {
					continue
				}
			case isTimeout(err):
				// No reply to the previous PING: the connection is dead
				// without the socket knowing it.
				err = errors.New("no reply to PING")
				b.replace()
			}
			pingPending = false
			if !down {
				down = true
				b.log.Warn("state: pub/sub connection lost; watchers are rung now and on reconnect", "err", err)
				b.lost()
				b.fan.ringAll()
			}
			backoff = min(max(2*backoff, 50*time.Millisecond), busBackoffMax)
			select {
			case <-b.stop:
				return
			case <-time.After(backoff):
			}
			continue
		}

		pingPending, backoff = false, 0
		if down {
			down = false
			b.log.Info("state: pub/sub connection re-established")
			b.fan.ringAll()
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				b.confirmed(m.Channel)
			}
		case *redis.Message:
			b.fan.deliver(m.Channel, []byte(m.Payload))
		}
	}
}
