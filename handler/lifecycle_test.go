package handler_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const toolsList = `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}`

// TestDeleteEndsSessionEverywhere: DELETE on one instance; every instance
// then answers 404, so the client re-initializes.
func TestDeleteEndsSessionEverywhere(t *testing.T) {
	f := newFleet(t, fleetOptions{redis: true})
	c := &rawClient{t: t, url: f.url}
	c.initialize()
	if resp := c.do("POST", toolsList, nil); resp.StatusCode != 200 {
		t.Fatalf("tools/list: %d", resp.StatusCode)
	}
	if resp := c.do("DELETE", "", nil); resp.StatusCode != 204 {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	for i := range 3 {
		if resp := c.do("POST", toolsList, nil); resp.StatusCode != 404 {
			t.Fatalf("request %d after DELETE: %d, want 404", i, resp.StatusCode)
		}
	}
	if resp := c.do("DELETE", "", nil); resp.StatusCode != 404 {
		t.Fatalf("second DELETE: %d, want 404", resp.StatusCode)
	}
}

// TestIdleTTL: a session idle longer than SessionTTL is gone (404); one
// used within the TTL slides on.
func TestIdleTTL(t *testing.T) {
	f := newFleet(t, fleetOptions{redis: true, sessionTTL: time.Second})
	active := &rawClient{t: t, url: f.url}
	active.initialize()
	idle := &rawClient{t: t, url: f.url}
	idle.initialize()
	for range 4 {
		time.Sleep(400 * time.Millisecond)
		if resp := active.do("POST", toolsList, nil); resp.StatusCode != 200 {
			t.Fatalf("active session: %d", resp.StatusCode)
		}
	}
	if resp := idle.do("POST", toolsList, nil); resp.StatusCode != 404 {
		t.Fatalf("idle session after TTL: %d, want 404", resp.StatusCode)
	}
}

// TestRedisOutage: with Redis stopped, session requests get 503 with
// Retry-After (no hang, no 500); when Redis returns, service resumes by
// itself.
func TestRedisOutage(t *testing.T) {
	f := newFleet(t, fleetOptions{redis: true})
	c := &rawClient{t: t, url: f.url}
	c.initialize()
	f.redis.Stop()
	for i := range 3 {
		start := time.Now()
		resp := c.do("POST", toolsList, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("request %d with Redis down: %d %q (Retry-After %q)", i, resp.StatusCode, b, resp.Header.Get("Retry-After"))
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Fatalf("503 took %v", d)
		}
	}
	fresh := &rawClient{t: t, url: f.url}
	if resp := fresh.do("POST", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`, nil); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Mcp-Session-Id") != "" {
		t.Fatalf("initialize with Redis down: %d, session %q", resp.StatusCode, resp.Header.Get("Mcp-Session-Id"))
	}
	f.redis.Restart()
	// The restarted Redis lost its data (no persistence): the old session
	// is gone and a new one works.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := c.do("POST", toolsList, nil)
		if resp.StatusCode == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: %d", resp.StatusCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
	again := &rawClient{t: t, url: f.url}
	again.initialize()
	cs, _ := connect(t, f.url, "2025-11-25")
	if got := callText(t, cs, "echo", map[string]any{"text": "back"}); got != "echo: back" {
		t.Fatalf("echo after restart: %q", got)
	}
}

// TestIdentityBinding: a session created by one identity is refused to
// another (403), on every instance.
func TestIdentityBinding(t *testing.T) {
	verify := func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		user, ok := strings.CutPrefix(token, "user-")
		if !ok {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{UserID: user, Expiration: time.Now().Add(time.Hour)}, nil
	}
	f := newFleet(t, fleetOptions{redis: true, wrap: auth.RequireBearerToken(verify, nil)})
	alice := &rawClient{t: t, url: f.url}
	bearer := map[string]string{"Authorization": "Bearer user-alice"}
	resp := alice.do("POST", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`, bearer)
	if resp.StatusCode != 200 {
		t.Fatalf("initialize: %d", resp.StatusCode)
	}
	alice.sid = resp.Header.Get("Mcp-Session-Id")
	io.Copy(io.Discard, resp.Body)
	for i := range 3 {
		if resp := alice.do("POST", toolsList, bearer); resp.StatusCode != 200 {
			t.Fatalf("alice %d: %d", i, resp.StatusCode)
		}
		if resp := alice.do("POST", toolsList, map[string]string{"Authorization": "Bearer user-mallory"}); resp.StatusCode != 403 {
			t.Fatalf("mallory %d: %d, want 403", i, resp.StatusCode)
		}
	}
}

// TestBadInput: malformed requests get a clear 4xx, never a 5xx.
func TestBadInput(t *testing.T) {
	f := newFleet(t, fleetOptions{})
	s := &rawClient{t: t, url: f.url}
	s.initialize()
	big := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"` + strings.Repeat("x", 5<<20) + `"}}}`
	tests := []struct {
		name   string
		method string
		body   string
		hdr    map[string]string
		noSID  bool
		want   int
	}{
		{"malformed JSON", "POST", `{"jsonrpc":`, nil, false, 400},
		{"not JSON-RPC", "POST", `{"hello":"world"}`, nil, false, 400},
		{"empty body", "POST", ``, map[string]string{"Content-Type": "application/json"}, false, 400},
		{"wrong content type", "POST", toolsList, map[string]string{"Content-Type": "text/plain"}, false, 415},
		{"missing accept", "POST", toolsList, map[string]string{"Accept": "application/json"}, false, 400},
		{"body too large", "POST", big, nil, false, 413},
		{"no session", "POST", toolsList, nil, true, 400},
		{"unknown session", "POST", toolsList, map[string]string{"Mcp-Session-Id": "AAAAAAAAAAAAAAAAAAAAAAAAAA"}, false, 404},
		{"garbage session", "POST", toolsList, map[string]string{"Mcp-Session-Id": "../../etc"}, false, 404},
		{"unsupported version", "POST", toolsList, map[string]string{"Mcp-Protocol-Version": "1999-01-01"}, false, 400},
		{"batch on 2025-11-25", "POST", "[" + toolsList + "]", nil, false, 400},
		{"duplicate IDs", "POST", "[" + toolsList + "," + toolsList + "]", map[string]string{"Mcp-Protocol-Version": "2025-03-26"}, false, 400},
		{"initialize with session", "POST", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`, nil, false, 400},
		{"bad Last-Event-ID", "GET", "", map[string]string{"Last-Event-ID": "nope"}, false, 400},
		{"GET without SSE accept", "GET", "", map[string]string{"Accept": "application/json"}, false, 400},
		{"GET without session", "GET", "", nil, true, 400},
		{"DELETE without session", "DELETE", "", nil, true, 400},
		{"PUT", "PUT", toolsList, nil, false, 405},
		{"foreign origin", "POST", toolsList, map[string]string{"Origin": "https://evil.example"}, false, 403},
		{"rebinding host", "POST", toolsList, map[string]string{"Host": "evil.example"}, false, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &rawClient{t: t, url: f.url, sid: s.sid, version: s.version}
			if tt.noSID {
				c.sid = ""
			}
			req, _ := http.NewRequest(tt.method, c.url, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if c.sid != "" {
				req.Header.Set("Mcp-Session-Id", c.sid)
			}
			req.Header.Set("Mcp-Protocol-Version", c.version)
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
				if k == "Host" {
					req.Host = v
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.want, b)
			}
			if len(strings.TrimSpace(string(b))) == 0 && tt.want != 405 {
				t.Errorf("no reason given")
			}
		})
	}
	// The session still works after all that.
	if resp := s.do("POST", toolsList, nil); resp.StatusCode != 200 {
		t.Fatalf("session after bad input: %d", resp.StatusCode)
	}
	_ = mcp.Implementation{}
}

// TestShutdownDrains: on Shutdown a running call completes on its own
// stream, while the GET stream ends at once with a retry hint; Shutdown
// returns when the call is done.
func TestShutdownDrains(t *testing.T) {
	f := newFleet(t, fleetOptions{instances: 1})
	c := &rawClient{t: t, url: f.url}
	c.initialize()
	get := c.do("GET", "", map[string]string{"Content-Type": ""})
	if get.StatusCode != 200 {
		t.Fatalf("GET: %d", get.StatusCode)
	}
	post := c.do("POST", `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"slow","arguments":{}}}`, nil)
	if post.StatusCode != 200 {
		t.Fatalf("POST: %d", post.StatusCode)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- f.handlers[0].Shutdown(ctx)
	}()
	getEvents := readSSE(t, get.Body, nil)
	if len(getEvents) == 0 || getEvents[len(getEvents)-1].Retry == "" {
		t.Fatalf("GET stream did not end with a retry hint: %+v", getEvents)
	}
	postEvents := readSSE(t, post.Body, nil)
	if len(postEvents) == 0 || !strings.Contains(postEvents[len(postEvents)-1].Data, "slow done") {
		t.Fatalf("call did not complete on its stream: %+v", postEvents)
	}
	if err := receive(t, shut, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
