package everything_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mcpfleet/mcpfleet/examples/everything/everything"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ExampleNew connects a client to the server in memory, calls a plain tool,
// and calls a tool that asks the user for their name. The client's
// ElicitationHandler answers; go-sdk carries the question in-band (an
// input_required result) under 2026-07-28.
func ExampleNew() {
	ctx := context.Background()
	server := everything.New(everything.Options{})

	clientTransport, serverTransport := mcp.NewInMemoryTransports()
	serverSession, err := server.Connect(ctx, serverTransport, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer serverSession.Close()

	client := mcp.NewClient(&mcp.Implementation{Name: "example-client", Version: "1.0.0"}, &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Gopher"}}, nil
		},
	})
	session, err := client.Connect(ctx, clientTransport, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()

	for _, name := range []string{"test_simple_text", "test_input_required_result_elicitation"} {
		res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: name})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(res.Content[0].(*mcp.TextContent).Text)
	}
	// Output:
	// This is a simple text response for testing.
	// Hello, Gopher!
}
