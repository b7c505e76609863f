package handler_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfleet/mcpfleet/handler"
	"github.com/mcpfleet/mcpfleet/internal/redistest"
	"github.com/mcpfleet/mcpfleet/state"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"
)

// fleet is n handler instances sharing one store, behind a round-robin
// balancer with no affinity, all at one URL.
type fleet struct {
	url      string
	handlers []*handler.Handler
	hits     []atomic.Int64
	probe    *testProbe
	redis    *redistest.Server
}

// testProbe lets tests observe what tools saw, on whichever instance.
type testProbe struct {
	cancelled chan string
}

type fleetOptions struct {
	instances  int
	redis      bool
	sessionTTL time.Duration
	wrap       func(http.Handler) http.Handler
	metrics    []handler.Metrics // per instance
	cacheTTL   time.Duration
}

func newFleet(t *testing.T, fo fleetOptions) *fleet {
	t.Helper()
	if fo.instances == 0 {
		fo.instances = 3
	}
	f := &fleet{probe: &testProbe{cancelled: make(chan string, 16)}}
	var mem state.Store
	if fo.redis {
		f.redis = redistest.Start(t)
	} else {
		mem = state.NewMemory(state.MemoryOptions{})
		t.Cleanup(func() { mem.Close() })
	}
	f.hits = make([]atomic.Int64, fo.instances)
	var backends []http.Handler
	for i := range fo.instances {
		store := mem
		if fo.redis {
			client := redis.NewClient(&redis.Options{
				Addr:         f.redis.Addr(),
				DialTimeout:  500 * time.Millisecond,
				ReadTimeout:  500 * time.Millisecond,
				WriteTimeout: 500 * time.Millisecond,
				MaxRetries:   1,
			})
			t.Cleanup(func() { client.Close() })
			rs := state.NewRedis(client, state.RedisOptions{})
			t.Cleanup(func() { rs.Close() })
			store = rs
		}
		var h *handler.Handler
		server := newTestServer(f.probe, func(ctx context.Context, p *mcp.ResourceUpdatedNotificationParams) error {
			return h.ResourceUpdated(ctx, p)
		}, func(ctx context.Context, sid, method string, params any) error {
			return h.Notify(ctx, sid, method, params)
		})
		var err error
		h, err = handler.New(server, &handler.Options{
			Store:           store,
			SessionTTL:      fo.sessionTTL,
			InstanceID:      fmt.Sprintf("inst%d", i),
			RetryAfter:      time.Second,
			StreamRetry:     50 * time.Millisecond,
			SessionCacheTTL: fo.cacheTTL,
			Metrics: func() handler.Metrics {
				if i < len(fo.metrics) {
					return fo.metrics[i]
				}
				return nil
			}(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		f.handlers = append(f.handlers, h)
		var b http.Handler = h
		if fo.wrap != nil {
			b = fo.wrap(b)
		}
		backends = append(backends, b)
	}
	var next atomic.Uint64
	rr := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := (next.Add(1) - 1) % uint64(len(backends))
		f.hits[i].Add(1)
		backends[i].ServeHTTP(w, r)
	})
	srv := httptest.NewServer(rr)
	t.Cleanup(srv.Close)
	f.url = srv.URL + "/mcp"
	return f
}

// newTestServer builds the MCP server every instance runs.
func newTestServer(probe *testProbe, updated func(context.Context, *mcp.ResourceUpdatedNotificationParams) error, notify func(ctx context.Context, sid, method string, params any) error) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "fleet-test", Version: "1.0.0"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	type textIn struct {
		Text string `json:"text"`
	}
	text := func(s string) *mcp.CallToolResult {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
	}
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
		return text("echo: " + in.Text), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "ask"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{
			Message: "Your name?",
			RequestedSchema: map[string]any{
				"type":       "object",
				"properties": map[string]any{"name": map[string]any{"type": "string"}},
			},
		})
		if err != nil {
			return nil, nil, err
		}
		return text(fmt.Sprintf("%s: %v", res.Action, res.Content["name"])), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "sample"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
			MaxTokens: 10,
			Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}},
		})
		if err != nil {
			return nil, nil, err
		}
		return text("sampled: " + res.Content.(*mcp.TextContent).Text), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "progress"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		for i := range 3 {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
				ProgressToken: req.Params.GetProgressToken(), Progress: float64(i + 1), Total: 3,
			}); err != nil {
				return nil, nil, err
			}
		}
		return text("done"), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "detach"}, func(ctx context.Context, req *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
		// A detached context: the message goes to the standalone stream,
		// not to this request's stream.
		if err := req.Session.Log(context.Background(), &mcp.LoggingMessageParams{Level: "info", Data: in.Text}); err != nil {
			return nil, nil, err
		}
		return text("logged"), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "later"}, func(ctx context.Context, req *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
		sid := req.Session.ID()
		go func() {
			time.Sleep(50 * time.Millisecond)
			_ = notify(context.Background(), sid, "notifications/message", &mcp.LoggingMessageParams{Level: "info", Data: in.Text})
		}()
		return text("scheduled"), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "pause"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: "p", Progress: 1})
		req.Extra.CloseSSEStream(mcp.CloseSSEStreamArgs{RetryAfter: 20 * time.Millisecond})
		time.Sleep(200 * time.Millisecond)
		return text("resumed"), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "slow"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		time.Sleep(400 * time.Millisecond)
		return text("slow done"), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "block"}, func(ctx context.Context, req *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
		select {
		case <-ctx.Done():
			probe.cancelled <- in.Text
			return nil, nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return text("not cancelled"), nil, nil
		}
	})
	mcp.AddTool(s, &mcp.Tool{Name: "touch"}, func(ctx context.Context, req *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
		if err := updated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: in.Text}); err != nil {
			return nil, nil, err
		}
		return text("touched"), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "confirm"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		// Multi-round-trip (SEP-2322): ask, then finish on the retry, which
		// may land on any instance.
		if resp, ok := req.Params.InputResponses["ok"]; ok {
			if req.Params.RequestState != "asked-once" {
				return nil, nil, fmt.Errorf("unexpected requestState %q", req.Params.RequestState)
			}
			er, _ := resp.(*mcp.ElicitResult)
			if er == nil {
				return nil, nil, errors.New("missing elicitation result")
			}
			return text("confirmed: " + er.Action), nil, nil
		}
		return &mcp.CallToolResult{
			InputRequests: mcp.InputRequestMap{"ok": &mcp.ElicitParams{
				Message:         "Proceed?",
				RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{}},
			}},
			RequestState: "asked-once",
		}, nil, nil
	})
	s.AddResource(&mcp.Resource{URI: "test://doc", Name: "doc", MIMEType: "text/plain"}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "test://doc", Text: "hello"}}}, nil
	})
	return s
}

// testClient is a go-sdk client that answers elicitation and sampling and
// records notifications.
type testClient struct {
	logs     chan string
	updated  chan string
	progress chan float64
}

func newTestClient() (*mcp.Client, *testClient) {
	tc := &testClient{logs: make(chan string, 16), updated: make(chan string, 16), progress: make(chan float64, 16)}
	c := mcp.NewClient(&mcp.Implementation{Name: "fleet-test-client", Version: "1.0.0"}, &mcp.ClientOptions{
		ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Ada"}}, nil
		},
		CreateMessageHandler: func(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Role: "assistant", Model: "test", Content: &mcp.TextContent{Text: "pong"}}, nil
		},
		LoggingMessageHandler: func(ctx context.Context, req *mcp.LoggingMessageRequest) {
			tc.logs <- fmt.Sprint(req.Params.Data)
		},
		ResourceUpdatedHandler: func(ctx context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			tc.updated <- req.Params.URI
		},
		ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
			tc.progress <- req.Params.Progress
		},
	})
	return c, tc
}

func connect(t *testing.T, url, version string) (*mcp.ClientSession, *testClient) {
	t.Helper()
	c, tc := newTestClient()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect (%s): %v", version, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs, tc
}

func callText(t *testing.T, cs *mcp.ClientSession, name string, args any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	if res.IsError {
		t.Fatalf("call %s: tool error %v", name, res.Content)
	}
	if len(res.Content) != 1 {
		t.Fatalf("call %s: %d content blocks", name, len(res.Content))
	}
	return res.Content[0].(*mcp.TextContent).Text
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}
