//go:build unix

package lambdaemu

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// newRequestID returns a random RFC 4122 version 4 UUID, the format of
// Lambda request IDs.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// randHex returns n random lower-case hexadecimal digits.
func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// randAlnum returns n random characters from [a-z0-9], the alphabet of
// function URL IDs.
func randAlnum(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// newTraceRoot returns an X-Ray trace ID, "1-<8 hex epoch seconds>-<24 hex>".
func newTraceRoot(t time.Time) string {
	return fmt.Sprintf("1-%08x-%s", t.Unix(), randHex(24))
}
