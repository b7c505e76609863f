package state

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Defaults of [AppendOptions].
const (
	defaultMaxLen = 1000
	defaultLogTTL = time.Hour
)

// subscribeBuffer is the capacity of the channels returned by Subscribe.
const subscribeBuffer = 64

// errClosed is returned by the methods of a closed store. A closed store is
// unavailable, so it wraps ErrUnavailable.
var errClosed = fmt.Errorf("%w: store closed", ErrUnavailable)

func appendDefaults(opts AppendOptions) (maxLen int64, ttl time.Duration) {
	maxLen, ttl = opts.MaxLen, opts.TTL
	if maxLen <= 0 {
		maxLen = defaultMaxLen
	}
	if ttl <= 0 {
		ttl = defaultLogTTL
	}
	return maxLen, ttl
}

func checkID(id string) error {
	if id == "" {
		return errors.New("state: empty session ID")
	}
	return nil
}

func checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("state: TTL must be positive, got %v", ttl)
	}
	return nil
}

// eventID is a parsed event ID "ms-seq". IDs compare as (ms, seq) pairs.
type eventID struct {
	ms, seq uint64
}

// maxEventID is the greatest possible event ID; nothing comes after it.
var maxEventID = eventID{^uint64(0), ^uint64(0)}

func (id eventID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}

func (id eventID) less(o eventID) bool {
	return id.ms < o.ms || (id.ms == o.ms && id.seq < o.seq)
}

// parseEventID parses an ID written "ms-seq" with two decimal numbers.
func parseEventID(s string) (eventID, error) {
	msStr, seqStr, ok := strings.Cut(s, "-")
	if ok {
		ms, err1 := parseDecimal(msStr)
		seq, err2 := parseDecimal(seqStr)
		if err1 == nil && err2 == nil {
			return eventID{ms, seq}, nil
		}
	}
	return eventID{}, fmt.Errorf("state: invalid event ID %q (want \"<ms>-<seq>\")", s)
}

// parseDecimal accepts only plain decimal digits (no sign, no spaces).
func parseDecimal(s string) (uint64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("not a decimal number")
	}
	return strconv.ParseUint(s, 10, 64)
}

func checkKeyArgs(name string, size int, ttl time.Duration) error {
	if name == "" {
		return errors.New("state: empty shared key name")
	}
	if size <= 0 {
		return fmt.Errorf("state: shared key size must be positive, got %d", size)
	}
	return checkTTL(ttl)
}
