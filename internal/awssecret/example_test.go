package awssecret_test

import (
	"context"
	"fmt"

	"github.com/mcpfleet/mcpfleet/internal/awssecret"
	"github.com/redis/go-redis/v9"
)

// A Redis password read from Secrets Manager at the first connection, not
// at start-up.
func Example() {
	secrets, err := awssecret.New(awssecret.Options{})
	if err != nil {
		fmt.Println(err) // AWS_REGION is not set outside Lambda
		return
	}
	const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redis-AbCdEf"
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: []string{"cache.example.internal:6379"},
		CredentialsProviderContext: func(ctx context.Context) (string, string, error) {
			password, err := secrets.Get(ctx, arn)
			return "mcpfleet", password, err
		},
	})
	defer client.Close()
}
