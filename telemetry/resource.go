package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
)

// detectPlatform resolves Options.Platform: an explicit value wins, else
// K_SERVICE (set by Cloud Run services) means cloudrun and
// AWS_LAMBDA_FUNCTION_NAME means lambda.
func detectPlatform(explicit string, getenv func(string) string) string {
	switch p := strings.ToLower(strings.TrimSpace(explicit)); p {
	case PlatformCloudRun, PlatformLambda, PlatformLocal:
		return p
	}
	switch {
	case getenv("K_SERVICE") != "":
		return PlatformCloudRun
	case getenv("AWS_LAMBDA_FUNCTION_NAME") != "":
		return PlatformLambda
	}
	return PlatformLocal
}

// detectProject returns the Google Cloud project from the options or the
// environment only: asking the metadata server would be a network call at
// start-up.
func detectProject(explicit string, getenv func(string) string) string {
	if explicit != "" {
		return explicit
	}
	for _, k := range []string{"GOOGLE_CLOUD_PROJECT", "GCP_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"} {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
	}
	return ""
}

// buildResource describes this process. The platform attributes come from
// environment variables only. contrib's GCP detector is not used: it calls
// metadata.OnGCE and the metadata server (project, region, instance) during
// Detect, i.e. network round trips at start-up, which also hang for seconds
// off Google Cloud. The Lambda attributes are the ones the runtime sets in
// the environment.
func buildResource(ctx context.Context, platform, project string, opts Options, getenv func(string) string) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{semconv.ServiceInstanceID(newInstanceID())}
	if opts.ServiceName != "" {
		attrs = append(attrs, semconv.ServiceName(opts.ServiceName))
	}
	if opts.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(opts.ServiceVersion))
	}
	add := func(key attribute.Key, env string) {
		if v := getenv(env); v != "" {
			attrs = append(attrs, key.String(v))
		}
	}
	switch platform {
	case PlatformCloudRun:
		attrs = append(attrs, semconv.CloudProviderGCP, semconv.CloudPlatformGCPCloudRun)
		add(semconv.FaaSNameKey, "K_SERVICE")
		add(semconv.FaaSVersionKey, "K_REVISION")
		add(semconv.CloudRegionKey, "GOOGLE_CLOUD_REGION")
		if project != "" {
			attrs = append(attrs, semconv.CloudAccountID(project))
		}
	case PlatformLambda:
		attrs = append(attrs, semconv.CloudProviderAWS, semconv.CloudPlatformAWSLambda)
		add(semconv.FaaSNameKey, "AWS_LAMBDA_FUNCTION_NAME")
		add(semconv.FaaSVersionKey, "AWS_LAMBDA_FUNCTION_VERSION")
		add(semconv.FaaSInstanceKey, "AWS_LAMBDA_LOG_STREAM_NAME")
		add(semconv.CloudRegionKey, "AWS_REGION")
		if mb, err := strconv.Atoi(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")); err == nil && mb > 0 {
			attrs = append(attrs, semconv.FaaSMaxMemory(mb<<20))
		}
	}
	// Later options win: OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME
	// override what the code says.
	own, err := resource.New(ctx, resource.WithAttributes(attrs...), resource.WithFromEnv())
	if own == nil {
		return nil, err
	}
	merged, mergeErr := resource.Merge(resource.Default(), own)
	if merged == nil {
		return own, errors.Join(err, mergeErr)
	}
	return merged, errors.Join(err, mergeErr)
}

// newInstanceID returns a random service.instance.id, so that the metric
// streams of instances of one fleet never collide.
func newInstanceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant
	s := hex.EncodeToString(b[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
