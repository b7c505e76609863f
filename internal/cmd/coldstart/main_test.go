//go:build unix

package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// buildFn builds the lambdaemu test function.
func buildFn(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bootstrap")
	out, err := exec.Command("go", "build", "-o", path, "../../lambdaemu/testdata/fn").CombinedOutput()
	if err != nil {
		t.Fatalf("building the test function: %v\n%s", err, out)
	}
	return path
}

func TestRun(t *testing.T) {
	fn := buildFn(t)
	runLine := regexp.MustCompile(`(?m)^run +\d+: init +\S+ +cold start +\S+ +total +\S+ +status 200, \d+ bytes$`)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantRuns int
		want     []string
	}{
		{
			name:     "streaming",
			args:     []string{"-bootstrap", fn, "-runs", "3"},
			wantRuns: 3,
			want:     []string{"(streaming, POST /mcp), 3 runs", "init (process start -> first /next):", "cold start (process start -> first byte):", "median"},
		},
		{
			name:     "buffered",
			args:     []string{"-bootstrap", fn, "-runs", "2", "-mode", "buffered", "-env", "FN_MODE=buffered", "-env", "OTEL_SDK_DISABLED=true", "-body", "", "-path", "/x?y=1"},
			wantRuns: 2,
			want:     []string{"(buffered, GET /x?y=1), 2 runs", "median"},
		},
		{
			name:     "failing function",
			args:     []string{"-bootstrap", fn, "-runs", "2", "-path", "/error"},
			wantCode: 1,
			want:     []string{"run  1: FAILED: status 502: {\"Message\":\"Internal Server Error\"}", "2 of 2 runs failed"},
		},
		{name: "no bootstrap", args: []string{"-runs", "2"}, wantCode: 2},
		{name: "bad mode", args: []string{"-bootstrap", fn, "-mode", "sideways"}, wantCode: 2},
		{name: "bad env", args: []string{"-bootstrap", fn, "-env", "NOEQUALS"}, wantCode: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, &stdout, &stderr)
			}
			if n := len(runLine.FindAllString(stdout.String(), -1)); n != tc.wantRuns {
				t.Errorf("%d successful run lines, want %d:\n%s", n, tc.wantRuns, &stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, &stdout)
				}
			}
		})
	}
}
