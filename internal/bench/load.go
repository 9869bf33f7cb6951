package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Payload returns the n-th request of a load: the body and the headers
// that sign it.
type Payload func(n int64) (body []byte, header http.Header)

// LoadResult is the outcome of one load run.
type LoadResult struct {
	// OK counts answers 200; Failed everything else (other statuses and
	// transport errors).
	OK, Failed int64
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
	// Latencies are the acknowledgement latencies of the OK answers,
	// sorted.
	Latencies []time.Duration
	// FirstError describes the first failure.
	FirstError string
}

// Rate is OK answers per second.
func (r *LoadResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Percentile returns the p-quantile (0..1) of the latencies.
func (r *LoadResult) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(p * float64(len(r.Latencies)))
	return r.Latencies[min(i, len(r.Latencies)-1)]
}

// NewLoadClient returns an HTTP client keeping conns loopback connections.
func NewLoadClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
			DisableCompression: true,
		},
	}
}

type collector struct {
	mu     sync.Mutex
	lat    []time.Duration
	ok     atomic.Int64
	failed atomic.Int64
	first  atomic.Value
}

func (c *collector) post(ctx context.Context, hc *http.Client, url string, body []byte, h http.Header, since time.Time) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		c.fail(err.Error())
		return
	}
	req.Header = h.Clone()
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			c.fail(err.Error())
		}
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.fail(fmt.Sprintf("status %d", resp.StatusCode))
		return
	}
	d := time.Since(since)
	c.ok.Add(1)
	c.mu.Lock()
	c.lat = append(c.lat, d)
	c.mu.Unlock()
}

func (c *collector) fail(msg string) {
	c.failed.Add(1)
	c.first.CompareAndSwap(nil, msg)
}

func (c *collector) result(elapsed time.Duration) *LoadResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	lat := slices.Clone(c.lat)
	slices.Sort(lat)
	r := &LoadResult{OK: c.ok.Load(), Failed: c.failed.Load(), Elapsed: elapsed, Latencies: lat}
	if s, ok := c.first.Load().(string); ok {
		r.FirstError = s
	}
	return r
}

// ClosedLoop posts from concurrency goroutines, each sending its next
// request as soon as the previous one is answered, for the duration (and
// at most maxRequests in total).
func ClosedLoop(ctx context.Context, url string, concurrency int, duration time.Duration, maxRequests int64, next Payload) *LoadResult {
	hc := NewLoadClient(concurrency)
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var c collector
	var seq atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n := seq.Add(1)
				if n > maxRequests {
					return
				}
				body, h := next(n)
				c.post(ctx, hc, url, body, h, time.Now())
			}
		}()
	}
	wg.Wait()
	return c.result(time.Since(start))
}

// OpenLoop posts at a fixed rate (requests per second) for the duration,
// whatever the answers' latency (at most maxInFlight outstanding). Latency
// is measured from each request's scheduled time, so a stall is not hidden
// by the generator waiting for it (no coordinated omission).
func OpenLoop(ctx context.Context, url string, rate float64, duration time.Duration, maxInFlight int, next Payload) *LoadResult {
	hc := NewLoadClient(maxInFlight)
	defer hc.CloseIdleConnections()
	var c collector
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxInFlight)
	total := int64(rate * duration.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for n := int64(1); n <= total && ctx.Err() == nil; n++ {
		at := start.Add(time.Duration(n-1) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d) // pacing the generator, not synchronising with the system under test
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		body, h := next(n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.post(ctx, hc, url, body, h, at)
		}()
	}
	wg.Wait()
	return c.result(time.Since(start))
}
