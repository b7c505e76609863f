package ssetest_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/mcpfleet/mcpfleet/internal/ssetest"
)

func TestStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want []ssetest.Event
	}{
		{"empty", "", nil},
		{"one", "event: message\nid: 1\ndata: {}\n\n", []ssetest.Event{{Name: "message", ID: "1", Data: "{}"}}},
		{"no space after colon", "data:x\n\n", []ssetest.Event{{Data: "x"}}},
		{"retry only (a priming event)", "id: 0\nretry: 1000\ndata:\n\n", []ssetest.Event{{ID: "0", Retry: "1000"}}},
		{"data lines joined", "data: a\ndata: b\n\n", []ssetest.Event{{Data: "a\nb"}}},
		{"comments and blank runs skipped", ": ping\n\n\n\ndata: x\n\n", []ssetest.Event{{Data: "x"}}},
		{"unknown fields ignored", "foo: bar\ndata: x\n\n", []ssetest.Event{{Data: "x"}}},
		{"unfinished event dropped", "data: a\n\ndata: b\n", []ssetest.Event{{Data: "a"}}},
		{"a long line", "data: " + strings.Repeat("x", 1<<20) + "\n\n", []ssetest.Event{{Data: strings.Repeat("x", 1<<20)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []ssetest.Event
			for ev := range ssetest.Stream(strings.NewReader(tc.body)) {
				got = append(got, ev)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
