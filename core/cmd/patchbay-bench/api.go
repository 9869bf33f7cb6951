package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/patchbayhq/patchbay/internal/bench"
)

// apiCall sends an admin API request and decodes a 2xx answer into out.
func apiCall(ctx context.Context, hc *http.Client, base, method, path string, body, out any) (int, error) {
	status, b, err := apiRaw(ctx, hc, base, method, path, body)
	if err != nil || out == nil {
		return status, err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return status, fmt.Errorf("%s %s: decode: %w", method, path, err)
	}
	return status, nil
}

// apiRaw sends an admin API request (body, when set, as JSON) and returns
// the status and body of a 2xx answer; any other status is an error.
func apiRaw(ctx context.Context, hc *http.Client, base, method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+bench.AdminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, b, nil
}

type apiTicket struct {
	ID     uint64 `json:"id"`
	Status string `json:"status"`
}

type apiComment struct {
	ID       uint64 `json:"id"`
	Body     string `json:"body"`
	Delivery *struct {
		Status   string `json:"status"`
		Attempts int    `json:"attempts"`
	} `json:"delivery"`
}

// metricValue fetches /metrics and returns the value of one unlabelled
// series (0 when absent).
func metricValue(ctx context.Context, hc *http.Client, base, name string) (float64, error) {
	_, b, err := apiRaw(ctx, hc, base, http.MethodGet, "/metrics", nil)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, nil
}
