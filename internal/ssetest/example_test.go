package ssetest_test

import (
	"fmt"
	"strings"

	"github.com/mcpfleet/mcpfleet/internal/ssetest"
)

func ExampleStream() {
	body := strings.NewReader("id: 7\nretry: 1000\ndata:\n\nevent: message\nid: 8\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n\n")
	for ev := range ssetest.Stream(body) {
		fmt.Printf("id=%s retry=%q data=%s\n", ev.ID, ev.Retry, ev.Data)
	}
	// Output:
	// id=7 retry="1000" data=
	// id=8 retry="" data={"jsonrpc":"2.0","id":2,"result":{}}
}
