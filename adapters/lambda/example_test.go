package lambda_test

import (
	"context"
	"log"
	"os"

	"github.com/mcpfleet/mcpfleet/adapters/lambda"
	"github.com/mcpfleet/mcpfleet/handler"
	"github.com/mcpfleet/mcpfleet/state"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"
)

// An MCP server as a Lambda function behind a function URL, with sessions
// in Redis (ElastiCache). Build it with
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -o bootstrap
//
// and deploy the zipped bootstrap on the provided.al2023 runtime.
func Example() {
	server := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1.0.0"}, nil)
	// mcp.AddTool(server, ...)

	// Nothing is dialled here: the first request connects, so the cold
	// start stays short.
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{os.Getenv("REDIS_ADDR")}})
	h, err := handler.New(server, &handler.Options{Store: state.NewRedis(client, state.RedisOptions{})})
	if err != nil {
		log.Fatal(err)
	}
	mode, err := lambda.Mode(os.Getenv("LAMBDA_INVOKE_MODE")) // "" is RESPONSE_STREAM
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(h, lambda.Options{
		InvokeMode: mode,
		// Before Lambda freezes the process: let work that outlived its
		// response (an answer going to Redis) finish.
		AfterInvoke: func(ctx context.Context) { _ = h.Settle(ctx) },
	})
}
