package config

import (
	"strings"
	"testing"
)

func TestParseRateLimit(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		want      RateLimit
		wantError string
	}{
		{"default", ``, RateLimit{RequestsPerMinute: DefaultRateLimitPerMinute, Burst: DefaultRateLimitBurst}, ""},
		{"set", "rate_limit {\n requests_per_minute = 120\n burst = 10\n}", RateLimit{RequestsPerMinute: 120, Burst: 10}, ""},
		{"off", "rate_limit { requests_per_minute = 0 }", RateLimit{RequestsPerMinute: 0, Burst: DefaultRateLimitBurst}, ""},
		{"negative", "rate_limit {\n requests_per_minute = -1\n}", RateLimit{}, "test.hcl:2"},
		{"fraction", "rate_limit { requests_per_minute = 1.5 }", RateLimit{}, "rate_limit.requests_per_minute must be a whole number"},
		{"zero burst", "rate_limit { burst = 0 }", RateLimit{}, "rate_limit.burst must be between 1 and"},
		{"unknown field", "rate_limit {\n per_second = 3\n}", RateLimit{}, `"per_second"`},
		{"string", `rate_limit { burst = "lots" }`, RateLimit{}, "rate_limit.burst must be a number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parse(t, tc.src, nil)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("error %v, want %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.RateLimit != tc.want {
				t.Fatalf("rate limit %+v, want %+v", cfg.RateLimit, tc.want)
			}
		})
	}
}
