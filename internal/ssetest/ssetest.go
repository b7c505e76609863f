// Package ssetest reads Server-Sent Events response bodies for tests that
// speak MCP's streamable HTTP transport over raw HTTP.
//
// It follows the event stream format of the HTML standard
// (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation)
// as far as MCP servers use it: event, id, retry and data fields (several
// data lines joined by "\n"), comment lines skipped, an event dispatched at
// a blank line and an unfinished one at the end of the body dropped.
package ssetest

import (
	"bufio"
	"io"
	"strings"
)

// Event is one dispatched event. Fields a server did not send are empty.
type Event struct {
	Name  string // event:
	ID    string // id:
	Retry string // retry:
	Data  string // data:, lines joined by "\n"
}

// maxLine bounds one line of the body (a large tool result is one data line).
const maxLine = 4 << 20

// Stream reads body in a goroutine and sends its events on the returned
// channel, in order, closing it at the end of the body or at a read error.
// A reader that stops early should close body so that the goroutine ends.
func Stream(body io.Reader) <-chan Event {
	ch := make(chan Event, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 0, 64<<10), maxLine)
		var ev Event
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if ev != (Event{}) {
					ch <- ev
				}
				ev = Event{}
				continue
			}
			if strings.HasPrefix(line, ":") {
				continue // a comment
			}
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimPrefix(v, " ")
			switch k {
			case "event":
				ev.Name = v
			case "id":
				ev.ID = v
			case "retry":
				ev.Retry = v
			case "data":
				if ev.Data != "" {
					ev.Data += "\n"
				}
				ev.Data += v
			}
		}
	}()
	return ch
}
