package cloudrun

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// HealthcheckMain is the body of a "healthcheck" subcommand for images that
// have no shell or curl (FROM scratch): it GETs the liveness endpoint of the
// server running in the same container and returns the exit code, 0 when it
// answered 200 and 1 otherwise. args are the arguments after the subcommand:
//
//	-addr host:port   server address (default $MCP_ADDR, else ":" + $PORT, $PORT default 8080);
//	                  an empty or wildcard host means 127.0.0.1
//	-path /healthz    path to GET (e.g. /readyz)
//	-timeout 3s       overall timeout
//
// Use it as the image's HEALTHCHECK: ["/mcpfleet", "healthcheck"].
func HealthcheckMain(args []string) int {
	return healthcheck(args, os.Getenv, os.Stderr)
}

func healthcheck(args []string, getenv func(string) string, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := getenv("MCP_ADDR")
	if def == "" {
		def = defaultAddr(getenv)
	}
	addr := fs.String("addr", def, "server address host:port")
	path := fs.String("path", LivenessPath, "path to GET")
	timeout := fs.Duration("timeout", 3*time.Second, "overall timeout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	target, err := healthURL(*addr, *path)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	// No proxy: the target is this container.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "healthcheck: %s: %s: %s\n", target, resp.Status, body)
		return 1
	}
	return 0
}

func healthURL(addr, path string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	if len(path) == 0 || path[0] != '/' {
		path = "/" + path
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}
