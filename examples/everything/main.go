// Command everything serves the MCP conformance suite's server scenarios
// (package everything) through mcpfleet's handler, at /mcp on $PORT
// (default 8080). With REDIS_URL set (redis://host:port/db) sessions live in
// Redis, so several processes behind any load balancer serve one fleet;
// without it, state is kept in this process.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mcpfleet/mcpfleet/examples/everything/everything"
	"github.com/mcpfleet/mcpfleet/handler"
	"github.com/mcpfleet/mcpfleet/state"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"
)

// changeTopic is the broadcast topic for list changes.
const changeTopic = "everything.change"

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(log); err != nil {
		log.Error("everything: " + err.Error())
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	addr := net.JoinHostPort(os.Getenv("HOST"), port)

	var store state.Store
	if raw := os.Getenv("REDIS_URL"); raw != "" {
		opt, err := redis.ParseURL(raw)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		client := redis.NewClient(opt)
		defer client.Close()
		rs := state.NewRedis(client, state.RedisOptions{Logger: log})
		defer rs.Close()
		store = rs
		log.Info("state in Redis", "addr", opt.Addr, "db", opt.DB)
	} else {
		log.Info("state in memory (single process); set REDIS_URL for a fleet")
	}

	// The server and the handler refer to each other: resource updates and
	// list changes travel between instances through the handler.
	var (
		h     *handler.Handler
		apply func(change string)
	)
	server := everything.New(everything.Options{
		ResourceUpdated: func(ctx context.Context, p *mcp.ResourceUpdatedNotificationParams) error {
			return h.ResourceUpdated(ctx, p)
		},
		Broadcast: func(ctx context.Context, change string) error {
			payload, err := json.Marshal(change)
			if err != nil {
				return err
			}
			return h.Broadcast(ctx, changeTopic, payload)
		},
		OnChange: func(fn func(string)) { apply = fn },
	})
	h, err := handler.New(server, &handler.Options{Store: store, Logger: log})
	if err != nil {
		return err
	}
	defer h.Close()
	h.OnBroadcast(changeTopic, func(_ context.Context, payload []byte) {
		var change string
		if err := json.Unmarshal(payload, &change); err == nil {
			apply(change)
		}
	})

	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("serving MCP", "url", "http://"+addr+"/mcp")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go h.Shutdown(sctx)
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
