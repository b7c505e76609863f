package main

import (
	"net/http"
)

// limitConcurrency bounds the requests next serves at once to max (0 means
// no bound). A request beyond the bound is not queued: it gets 503 with
// Retry-After at once, so that the client (or Cloud Run's front end) retries,
// possibly on another instance, instead of waiting behind a saturated one.
// Open SSE streams (GET streams, tool calls in progress) hold their slot
// until they end, as they count against Cloud Run's per-instance
// concurrency too.
//
// No library: a buffered channel is a complete counting semaphore for a
// non-blocking try-acquire, which is all this needs;
// golang.org/x/sync/semaphore adds weighted and blocking acquisition, which
// it does not.
func limitConcurrency(next http.Handler, max int, st *stats) http.Handler {
	if max <= 0 {
		return next
	}
	slots := make(chan struct{}, max)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		default:
			if st != nil {
				st.rejected.Add(1)
			}
			w.Header().Set("Retry-After", "1")
			http.Error(w, "Service Unavailable: this instance is serving its maximum number of concurrent requests; retry shortly", http.StatusServiceUnavailable)
		}
	})
}
