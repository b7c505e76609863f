package main

import (
	"context"
	"errors"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"
)

// quote is fetch_quote's result.
type quote struct {
	Symbol   string  `json:"symbol" jsonschema:"the ticker symbol"`
	Price    float64 `json:"price" jsonschema:"last price"`
	Currency string  `json:"currency" jsonschema:"ISO 4217 currency code of the price"`
	AsOf     string  `json:"as_of" jsonschema:"time of the price (RFC 3339)"`
	Source   string  `json:"source" jsonschema:"where the price comes from"`
}

// quoteSource is fetch_quote's upstream: a market-data API in a real
// server. Replace simulatedQuotes with a client for yours.
type quoteSource interface {
	Quote(ctx context.Context, symbol string) (quote, error)
}

// errUpstreamUnavailable is what an upstream failure that may go away
// (HTTP 502/503/504, connection refused, rate limited) maps to.
var errUpstreamUnavailable = errors.New("quote upstream: 503 Service Unavailable")

// simulatedQuotes is an in-process stand-in for a market-data API: prices
// are derived from the symbol and the time, and a share FailureRate of the
// calls fails with errUpstreamUnavailable, to exercise the retry path.
// It makes no network calls.
type simulatedQuotes struct {
	FailureRate float64       // 0 never fails, 1 always fails
	Latency     time.Duration // simulated round trip
}

// Quote implements quoteSource.
func (s *simulatedQuotes) Quote(ctx context.Context, symbol string) (quote, error) {
	if s.Latency > 0 {
		t := time.NewTimer(s.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return quote{}, ctx.Err()
		}
	}
	if s.FailureRate > 0 && rand.Float64() < s.FailureRate {
		return quote{}, errUpstreamUnavailable
	}
	h := fnv.New64a()
	h.Write([]byte(symbol))
	base := 5 + float64(h.Sum64()%50000)/100 // 5.00 … 504.99
	now := time.Now().UTC()
	// A slow, bounded drift, so the price moves over the day.
	drift := 1 + 0.02*math.Sin(float64(now.Unix())/3600)
	return quote{
		Symbol:   symbol,
		Price:    math.Round(base*drift*100) / 100,
		Currency: "USD",
		AsOf:     now.Format(time.RFC3339),
		Source:   "simulated (no market data; the price is derived from the symbol)",
	}, nil
}
