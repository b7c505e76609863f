package telemetry

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// scanJSONRPC returns the method and id of the single JSON-RPC message in
// buf without decoding the rest: it walks the top-level object once and
// skips every other value (params above all) by its brackets and strings.
// A body that is not a JSON object (a batch, say) yields nothing, and so
// does a method that is not a string. A repeated key counts by its last
// value, as in encoding/json. Malformed JSON may yield a method and id; the
// caller only uses them for a message that go-sdk's parser accepted.
//
// The id is returned as text: a string id unquoted, a number as written; a
// null or absent id, or one of another type, gives hasID false.
func scanJSONRPC(buf []byte) (method, id string, hasID bool) {
	s := scanner{b: buf}
	if !s.ws() || s.b[s.i] != '{' {
		return "", "", false
	}
	s.i++
	var rawMethod, rawID []byte
	for first := true; ; first = false {
		if !s.ws() {
			return "", "", false
		}
		if s.b[s.i] == '}' && first {
			s.i++
			break
		}
		key, ok := s.str()
		if !ok || !s.ws() || s.b[s.i] != ':' {
			return "", "", false
		}
		s.i++
		if !s.ws() {
			return "", "", false
		}
		start := s.i
		if !s.value() {
			return "", "", false
		}
		switch keyName(key) {
		case "method":
			rawMethod = s.b[start:s.i]
		case "id":
			rawID = s.b[start:s.i]
		}
		if !s.ws() {
			return "", "", false
		}
		if s.b[s.i] == ',' {
			s.i++
			continue
		}
		if s.b[s.i] != '}' {
			return "", "", false
		}
		s.i++
		break
	}
	if s.ws() { // trailing data: not one JSON value
		return "", "", false
	}
	if len(rawMethod) > 0 && string(rawMethod) != "null" {
		var ok bool
		if method, ok = unquote(rawMethod); !ok {
			return "", "", false
		}
	}
	switch {
	case len(rawID) == 0, string(rawID) == "null":
	case rawID[0] == '"':
		id, hasID = unquote(rawID)
	case rawID[0] == '-' || rawID[0] >= '0' && rawID[0] <= '9':
		id, hasID = string(rawID), true
	}
	return method, id, hasID
}

// keyName returns the text of the object key literal k ("" when it does
// not decode), without allocating for the keys that matter.
func keyName(k []byte) string {
	switch string(k) {
	case `"method"`:
		return "method"
	case `"id"`:
		return "id"
	}
	if bytes.IndexByte(k, '\\') < 0 {
		return ""
	}
	name, _ := unquote(k) // an escaped spelling, "\u0069d" say
	return name
}

// unquote returns the text of the JSON string literal q.
func unquote(q []byte) (string, bool) {
	if len(q) < 2 || q[0] != '"' {
		return "", false
	}
	inner := q[1 : len(q)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string // escapes or invalid UTF-8: let encoding/json decide
	if json.Unmarshal(q, &s) != nil {
		return "", false
	}
	return s, true
}

// scanner walks JSON text without building values.
type scanner struct {
	b []byte
	i int
}

// ws skips white space and reports whether bytes remain.
func (s *scanner) ws() bool {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return true
		}
	}
	return false
}

// str consumes a string literal and returns it with its quotes.
func (s *scanner) str() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i
	for s.i++; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '\\':
			s.i++ // the escaped byte; \uXXXX digits are plain bytes
		case c == '"':
			s.i++
			return s.b[start:s.i], true
		case c < 0x20:
			return nil, false // control characters must be escaped
		}
	}
	return nil, false
}

// value consumes one value: a string, or an object or array by depth
// (strings inside skipped whole), or a literal up to the next delimiter.
func (s *scanner) value() bool {
	switch s.b[s.i] {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, ok := s.str(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	default:
		start := s.i
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return s.i > start
			}
			s.i++
		}
		return s.i > start
	}
}
