package handler

import (
	"sync"
	"time"
)

// maxCachedSessions bounds the session cache of one instance.
const maxCachedSessions = 10000

// cacheFenceID is a pseudo session whose bell rings when the store's
// pub/sub connection is re-established: cross-instance invalidations may
// have been lost meanwhile, so the whole cache is dropped.
const cacheFenceID = "mcpfleet-session-cache-fence"

// sessionCache keeps the records of sessions this instance served lately,
// so that their next requests here cost no store round trip while the
// session did not change. An entry is dropped when its session changes or
// ends on any instance (the instance that changed it says so on the bus),
// when the bus connection is re-established, and after maxAge, so a lost
// invalidation is bounded. The store's sliding TTL is extended by the load
// that follows an entry's expiry.
type sessionCache struct {
	maxAge time.Duration

	mu      sync.Mutex
	entries map[string]cacheEntry
	gen     uint64 // bumped by every invalidation
}

type cacheEntry struct {
	data []byte // the encoded record: each request decodes its own copy
	at   time.Time
}

func newSessionCache(maxAge time.Duration) *sessionCache {
	return &sessionCache{maxAge: maxAge, entries: make(map[string]cacheEntry)}
}

// get returns the cached record of sid, or nil.
func (c *sessionCache) get(sid string) []byte {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[sid]
	if !ok {
		return nil
	}
	if time.Since(e.at) >= c.maxAge {
		delete(c.entries, sid)
		return nil
	}
	return e.data
}

// generation returns the invalidation counter, read before a load: the
// loaded record is cached only if nothing was invalidated meanwhile.
func (c *sessionCache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches a record loaded from the store if no invalidation happened
// since gen was read.
func (c *sessionCache) put(sid string, data []byte, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	c.setLocked(sid, data)
}

// set caches a record this instance just wrote.
func (c *sessionCache) set(sid string, data []byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(sid, data)
}

func (c *sessionCache) setLocked(sid string, data []byte) {
	now := time.Now()
	if _, ok := c.entries[sid]; !ok && len(c.entries) >= maxCachedSessions {
		for k, e := range c.entries {
			if now.Sub(e.at) >= c.maxAge {
				delete(c.entries, k)
			}
		}
		for k := range c.entries { // still full: drop arbitrary entries
			if len(c.entries) < maxCachedSessions*3/4 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[sid] = cacheEntry{data: data, at: now}
}

// drop forgets sid: it changed or ended on some instance.
func (c *sessionCache) drop(sid string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, sid)
}

// flush forgets everything.
func (c *sessionCache) flush() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}
