// Package awssecret reads AWS Secrets Manager secrets when they are first
// needed, with the credentials the Lambda runtime puts in the environment,
// so that no secret sits in a function's environment variables and nothing
// is fetched during a cold start.
//
// It uses the AWS SDK's Secrets Manager client (SigV4 signing, retries,
// error types) without the SDK's config loader, which would add shared
// config files, SSO and IMDS that a Lambda function does not use.
package awssecret

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Options configures a [Reader].
type Options struct {
	// Lookup reads the environment. Default os.LookupEnv. Used:
	// AWS_REGION (or AWS_DEFAULT_REGION), AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, and the standard endpoint
	// overrides AWS_ENDPOINT_URL_SECRETS_MANAGER and AWS_ENDPOINT_URL.
	Lookup func(string) (string, bool)

	// TTL is how long a value is reused before it is read again, so a
	// rotated secret is picked up by new connections. Default 1 minute.
	TTL time.Duration
}

// Reader reads and caches secret values. It is safe for concurrent use.
type Reader struct {
	client *secretsmanager.Client
	ttl    time.Duration

	mu    sync.Mutex
	cache map[string]entry
}

type entry struct {
	value string
	at    time.Time
}

// New returns a Reader. It makes no network call.
func New(opts Options) (*Reader, error) {
	lookup := opts.Lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	env := func(keys ...string) string {
		for _, k := range keys {
			if v, ok := lookup(k); ok && v != "" {
				return v
			}
		}
		return ""
	}
	region := env("AWS_REGION", "AWS_DEFAULT_REGION")
	if region == "" {
		return nil, errors.New("awssecret: AWS_REGION is not set")
	}
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		c := aws.Credentials{
			AccessKeyID:     env("AWS_ACCESS_KEY_ID"),
			SecretAccessKey: env("AWS_SECRET_ACCESS_KEY"),
			SessionToken:    env("AWS_SESSION_TOKEN"),
			Source:          "environment",
		}
		if c.AccessKeyID == "" || c.SecretAccessKey == "" {
			return aws.Credentials{}, errors.New("awssecret: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (the Lambda runtime sets them from the function's role)")
		}
		return c, nil
	})
	o := secretsmanager.Options{
		Region:      region,
		Credentials: aws.NewCredentialsCache(creds),
	}
	if ep := env("AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL"); ep != "" {
		o.BaseEndpoint = aws.String(ep)
	}
	ttl := opts.TTL
	if ttl <= 0 {
		ttl = time.Minute
	}
	return &Reader{client: secretsmanager.New(o), ttl: ttl, cache: make(map[string]entry)}, nil
}

// Get returns the string value of the secret id (an ARN or a name).
func (r *Reader) Get(ctx context.Context, id string) (string, error) {
	r.mu.Lock()
	e, ok := r.cache[id]
	r.mu.Unlock()
	if ok && time.Since(e.at) < r.ttl {
		return e.value, nil
	}
	out, err := r.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		if ok {
			// Secrets Manager unreachable: the last value is better than
			// none (a rotated secret keeps the old version valid a while).
			return e.value, nil
		}
		return "", fmt.Errorf("awssecret: reading %s: %w", id, err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("awssecret: %s has no string value (binary secrets are not supported)", id)
	}
	r.mu.Lock()
	r.cache[id] = entry{value: *out.SecretString, at: time.Now()}
	r.mu.Unlock()
	return *out.SecretString, nil
}
