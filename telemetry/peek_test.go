package telemetry

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestScanJSONRPC(t *testing.T) {
	tests := []struct {
		name, body string
		method, id string
		hasID      bool
	}{
		{"request", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"}{]["}}}`, "tools/call", "2", true},
		{"string id", `{"jsonrpc":"2.0","id":"a-1","method":"ping"}`, "ping", "a-1", true},
		{"escaped id", `{"id":"a\"b\u00e9","method":"ping"}`, "ping", "a\"bé", true},
		{"negative and exponent", `{"id":-1.5e3,"method":"ping"}`, "ping", "-1.5e3", true},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, "notifications/initialized", "", false},
		{"null id", `{"id":null,"method":"ping"}`, "ping", "", false},
		{"object id", `{"id":{"x":1},"method":"ping"}`, "ping", "", false},
		{"params first", ` { "params" : [1, {"id": 9, "method": "no"}, "]"], "method" : "m", "id" : 7 } `, "m", "7", true},
		{"last key wins", `{"method":"a","id":1,"method":"b","id":"z"}`, "b", "z", true},
		{"escaped key", `{"\u006dethod":"m","\u0069d":3}`, "m", "3", true},
		{"non-string method", `{"method":5,"id":1}`, "", "", false},
		{"null method", `{"method":null,"id":1}`, "", "1", true},
		{"response", `{"jsonrpc":"2.0","id":4,"result":{}}`, "", "4", true},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, "", "", false},
		{"empty object", `{}`, "", "", false},
		{"cut short", `{"jsonrpc":"2.0","id":1,"method":"pi`, "", "", false},
		{"cut in params", `{"id":1,"method":"ping","params":{"a":[1,2`, "", "", false},
		{"trailing data", `{"id":1,"method":"ping"} {}`, "", "", false},
		{"not JSON", `hello`, "", "", false},
		{"empty", ``, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, id, hasID := scanJSONRPC([]byte(tt.body))
			if method != tt.method || id != tt.id || hasID != tt.hasID {
				t.Errorf("scanJSONRPC(%s) = %q, %q, %v; want %q, %q, %v", tt.body, method, id, hasID, tt.method, tt.id, tt.hasID)
			}
		})
	}
}

// referenceJSONRPC is scanJSONRPC's contract for valid JSON, written with
// encoding/json.
func referenceJSONRPC(buf []byte) (method, id string, hasID bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(buf, &m) != nil || m == nil {
		return "", "", false
	}
	if raw, ok := m["method"]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &method) != nil {
			return "", "", false
		}
	}
	switch raw := m["id"]; {
	case len(raw) == 0, string(raw) == "null":
	case raw[0] == '"':
		hasID = json.Unmarshal(raw, &id) == nil
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		id, hasID = string(raw), true
	}
	return method, id, hasID
}

// FuzzScanJSONRPC checks scanJSONRPC against encoding/json on every valid
// JSON input (on invalid input it must only not panic).
func FuzzScanJSONRPC(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`,
		`{"id":"x\\y","method":"a\u0062"}`, `{"method":"m","method":null}`, `{"ID":1,"Method":"m"}`,
		`{"\u006dethod":"m"}`, `[1]`, `"s"`, `null`, `{"a":{"b":["}",{"c":"]"}]},"id":1e2}`,
		"{\"method\":\"\xff\"}", `{"id":true}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		method, id, hasID := scanJSONRPC(buf)
		if !json.Valid(buf) {
			return
		}
		// Keys compare exactly after unescaping; the last of equal keys
		// counts, in the map as in the scanner.
		wm, wid, whas := referenceJSONRPC(buf)
		if method != wm || id != wid || hasID != whas {
			t.Errorf("scanJSONRPC(%q) = %q, %q, %v; encoding/json: %q, %q, %v", bytes.Clone(buf), method, id, hasID, wm, wid, whas)
		}
	})
}
