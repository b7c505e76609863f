package handler

import (
	"context"
	"testing"
)

// TestNoMetricsAllocatesNothing: a handler without Options.Metrics pays no
// allocation for its measurement calls.
func TestNoMetricsAllocatesNothing(t *testing.T) {
	var m Metrics = noMetrics{}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		defer m.StreamOpened(ctx)()
		m.StoreOp(ctx, "load_session")(nil)
		m.Delivered(ctx, deliveryEventReplayed, 3)
		m.SessionEnded(ctx, 0, "2025-11-25", "")
	})
	if allocs != 0 {
		t.Errorf("%v allocations per call, want 0", allocs)
	}
}
