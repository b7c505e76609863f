package awssecret_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfleet/mcpfleet/internal/awssecret"
)

// secretsManager serves GetSecretValue of the public Secrets Manager JSON
// protocol (awsJson1_1) for one secret, and checks the request is signed.
func secretsManager(t *testing.T, arn, value string) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		auth := r.Header.Get("Authorization")
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" ||
			!strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") || !strings.Contains(auth, "/eu-west-1/secretsmanager/aws4_request") ||
			r.Header.Get("X-Amz-Security-Token") != "session-token" {
			t.Errorf("request not signed as expected: target %q auth %q", r.Header.Get("X-Amz-Target"), auth)
		}
		var in struct{ SecretId string }
		json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if in.SecretId != arn {
			w.WriteHeader(400)
			w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`))
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"ARN": arn, "Name": "redis", "SecretString": value, "VersionId": "v1", "CreatedDate": 1.7e9})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func env(endpoint string) func(string) (string, bool) {
	m := map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_SESSION_TOKEN": "session-token", "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestGet(t *testing.T) {
	const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redis-AbCdEf"
	srv, calls := secretsManager(t, arn, "s3cret")
	r, err := awssecret.New(awssecret.Options{Lookup: env(srv.URL), TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		v, err := r.Get(ctx, arn)
		if err != nil || v != "s3cret" {
			t.Fatalf("Get = %q, %v", v, err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d calls to Secrets Manager, want 1 (cached)", n)
	}
	_, err = r.Get(ctx, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:other-XyZ")
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("missing secret: %v", err)
	}
}

func TestNewNeedsRegion(t *testing.T) {
	if _, err := awssecret.New(awssecret.Options{Lookup: func(string) (string, bool) { return "", false }}); err == nil {
		t.Error("no error without AWS_REGION")
	}
}
