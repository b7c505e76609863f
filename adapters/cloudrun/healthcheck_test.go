package cloudrun

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	fh := &frontHandler{next: appHandler}
	ok := httptest.NewServer(fh)
	defer ok.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer failing.Close()
	_, okPort, _ := net.SplitHostPort(ok.Listener.Addr().String())
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    int
		wantErr string
	}{
		{"PORT, wildcard host becomes loopback", map[string]string{"PORT": okPort}, nil, 0, ""},
		{"MCP_ADDR wins over PORT", map[string]string{"PORT": "1", "MCP_ADDR": "0.0.0.0:" + okPort}, nil, 0, ""},
		{"-addr flag", nil, []string{"-addr", ok.Listener.Addr().String()}, 0, ""},
		{"readiness path", nil, []string{"-addr", ok.Listener.Addr().String(), "-path", "/readyz"}, 0, ""},
		{"path without leading slash", nil, []string{"-addr", ok.Listener.Addr().String(), "-path", "readyz"}, 0, ""},
		{"non-200", nil, []string{"-addr", failing.Listener.Addr().String()}, 1, "500 Internal Server Error: boom"},
		{"nothing listening", nil, []string{"-addr", closedAddr}, 1, "connection refused"},
		{"bad address", nil, []string{"-addr", "nonsense"}, 1, "address \"nonsense\""},
		{"bad flag", nil, []string{"-nope"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			got := healthcheck(tt.args, func(k string) string { return tt.env[k] }, &stderr)
			if got != tt.want {
				t.Fatalf("exit %d, want %d; stderr: %s", got, tt.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.wantErr)
			}
		})
	}

	fh.draining.Store(true)
	var stderr strings.Builder
	if got := healthcheck([]string{"-addr", ok.Listener.Addr().String(), "-path", "/readyz"}, func(string) string { return "" }, &stderr); got != 1 {
		t.Errorf("/readyz while draining: exit %d, want 1", got)
	}
	if got := healthcheck([]string{"-addr", ok.Listener.Addr().String()}, func(string) string { return "" }, &stderr); got != 0 {
		t.Errorf("/healthz while draining: exit %d, want 0", got)
	}
}
