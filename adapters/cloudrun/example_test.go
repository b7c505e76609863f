package cloudrun_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/mcpfleet/mcpfleet/adapters/cloudrun"
)

// A main function for a Cloud Run service: serve on $PORT, report readiness,
// drain on SIGTERM, and exit non-zero when the drain did not finish in time.
func Example() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(cloudrun.HealthcheckMain(os.Args[2:]))
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello"))
	})
	ping := func(ctx context.Context) error { return nil } // e.g. a Redis PING

	err := cloudrun.Run(context.Background(), mux, cloudrun.Options{
		ShutdownGrace: 10 * time.Second,
		Ready:         ping,
		Logger:        slog.New(slog.NewJSONHandler(os.Stderr, nil)),
	})
	if errors.Is(err, cloudrun.ErrGraceExpired) {
		os.Exit(2)
	}
	if err != nil {
		os.Exit(1)
	}
}

// streamingHandler ends its open streams when Run starts draining.
type streamingHandler struct {
	http.Handler
	stop chan struct{}
}

// Shutdown makes Run tell the handler that the instance is going away.
func (h *streamingHandler) Shutdown(ctx context.Context) error {
	close(h.stop) // streams write "retry: …" and return
	return nil
}

func ExampleShutdowner() {
	h := &streamingHandler{Handler: http.NotFoundHandler(), stop: make(chan struct{})}
	var _ cloudrun.Shutdowner = h
	_ = cloudrun.Run(context.Background(), h, cloudrun.Options{})
}
