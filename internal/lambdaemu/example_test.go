//go:build unix

package lambdaemu_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mcpfleet/mcpfleet/internal/lambdaemu"
)

// Run a bootstrap binary behind a streaming function URL with up to two
// instances that are frozen between invocations, send it an MCP request and
// report each instance's cold start.
func Example() {
	emu, err := lambdaemu.Start(lambdaemu.Options{
		Command:      []string{"./bootstrap"}, // built with GOOS=linux, e.g. into t.TempDir()
		Env:          []string{"OTEL_SDK_DISABLED=true"},
		Timeout:      10 * time.Second,
		MaxInstances: 2,
		Mode:         lambdaemu.Streaming,
		Freeze:       true,
		Output:       os.Stderr, // in a test: t.Output() (Go 1.25+)
	})
	if err != nil {
		log.Fatal(err)
	}
	defer emu.Close()

	req, _ := http.NewRequest("POST", emu.URL()+"/mcp", strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"example","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body) // an error here means the stream was cut
	resp.Body.Close()
	fmt.Println(resp.Status, len(body), err)

	st := emu.Stats()
	for _, in := range st.Instances {
		fmt.Printf("i%d: init %v, cold start %v, %d invocations\n", in.ID, in.InitDuration(), in.ColdStart(), in.Invocations)
	}
	for _, inv := range st.Invocations {
		fmt.Println(inv.RequestID, inv.Outcome, inv.Status)
	}
}
