// Command e2eclient drives the reference server (cmd/mcpfleet) with go-sdk's
// MCP client, for scripts/otel-e2e.sh: it waits until the server is ready,
// then initializes a 2025-11-25 session, calls convert_units once
// successfully and once with an unknown unit (a tool error), calls a tool
// that does not exist (a JSON-RPC error), and closes the session (DELETE).
// Every HTTP request carries the -traceparent header when one is given, so
// the server's spans join that trace. It exits 1 when an answer is not the
// expected one.
//
//	e2eclient -url http://127.0.0.1:8080/mcp [-traceparent 00-…-…-01]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	endpoint := flag.String("url", "http://127.0.0.1:8080/mcp", "MCP endpoint")
	traceparent := flag.String("traceparent", "", "W3C traceparent header sent with every request")
	timeout := flag.Duration("timeout", 30*time.Second, "overall time limit, waiting for readiness included")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *endpoint, *traceparent); err != nil {
		fmt.Fprintf(os.Stderr, "e2eclient: %v\n", err)
		os.Exit(1)
	}
}

// headerTransport adds fixed headers to every request.
type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.headers {
		r.Header.Set(k, v)
	}
	return t.base.RoundTrip(r)
}

func run(ctx context.Context, endpoint, traceparent string) error {
	if err := waitReady(ctx, endpoint); err != nil {
		return err
	}
	headers := map[string]string{}
	if traceparent != "" {
		headers["traceparent"] = traceparent
	}
	hc := &http.Client{Transport: headerTransport{base: http.DefaultTransport, headers: headers}}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpfleet-e2eclient", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	fmt.Printf("initialized session %s (%s)\n", cs.ID(), cs.InitializeResult().ProtocolVersion)

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "convert_units", Arguments: map[string]any{"value": 10, "from": "km", "to": "mi"}})
	if err != nil || res.IsError || !strings.Contains(text(res), "6.21371192237") {
		return fmt.Errorf("convert_units 10 km to mi: %v %s", err, text(res))
	}
	fmt.Printf("convert_units: %s\n", text(res))

	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "convert_units", Arguments: map[string]any{"value": 1, "from": "km", "to": "parsec"}})
	if err != nil || !res.IsError {
		return fmt.Errorf("convert_units to an unknown unit: want a tool error, got %v %s", err, text(res))
	}
	fmt.Printf("convert_units (failing, as intended): %s\n", text(res))

	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "no_such_tool"})
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) {
		return fmt.Errorf("unknown tool: want a JSON-RPC error, got %v", err)
	}
	fmt.Printf("no_such_tool (failing, as intended): %d %s\n", werr.Code, werr.Message)

	if err := cs.Close(); err != nil {
		return fmt.Errorf("closing the session: %w", err)
	}
	fmt.Println("session closed")
	return nil
}

func text(res *mcp.CallToolResult) string {
	if res == nil {
		return ""
	}
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, " ")
}

// waitReady polls the server's /readyz (next to the MCP endpoint) until it
// answers 200.
func waitReady(ctx context.Context, endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return err
	}
	u.Path, u.RawQuery = "/readyz", ""
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %v", u, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
