package redistest

import (
	"strings"
	"testing"
	"time"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("ping after Start: %v", err)
	}
	if !strings.HasPrefix(s.URL(), "redis://127.0.0.1:") || !strings.HasSuffix(s.URL(), "/0") {
		t.Errorf("URL() = %q", s.URL())
	}
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}

	s.Stop()
	if err := ping(s.Addr()); err == nil {
		t.Fatal("ping after Stop succeeded")
	}
	s.Stop() // idempotent

	addr := s.Addr()
	start := time.Now()
	s.Restart()
	if s.Addr() != addr {
		t.Errorf("Restart moved from %s to %s", addr, s.Addr())
	}
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("ping after Restart: %v", err)
	}
	t.Logf("restart took %v", time.Since(start))
}
