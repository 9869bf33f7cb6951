package config

import (
	"encoding/json"
	"errors"
	"testing"
)

func FuzzParse(f *testing.F) {
	seeds := []string{
		`channel "a" { plugin = "email" }`,
		"data_dir = \"x\"\nhttp { listen = \":1\" }\n",
		`channel "a" { plugin = "x"
config { a = env("A") 
 b { c = [1, 2, { d = true }] }
 r "x" "y" { z = null }
 r "x" "w" { z = 1 }
 m { } 
 m { }
} }`,
		`channel "a" { plugin = "x" attachments { allow = [".pdf"] max_size_mb = 3 } }`,
		`outbox { max_attempts = 3 max_backoff = "1m" }`,
		`channel "x" { plugin = "y" config { u = "smtp://u:p@h" t = "${env("A")}-s" } }`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	env := testEnv(map[string]string{"A": "secret-a"})
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := Parse(src, "fuzz.hcl", Options{LookupEnv: env, BaseDir: "/base"})
		if err != nil {
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("error %T is not *config.Error", err)
			}
			// Errors never echo a value that came from env().
			if !contains(src, "secret-a") && contains([]byte(err.Error()), "secret-a") {
				t.Fatalf("error leaks an env value: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, ch := range cfg.Channels {
			if !validName(ch.Name) || seen[ch.Name] {
				t.Fatalf("bad or duplicate channel name %q", ch.Name)
			}
			seen[ch.Name] = true
			if !json.Valid(ch.Config) || !json.Valid(ch.RedactedConfig()) {
				t.Fatalf("invalid JSON: %s / %s", ch.Config, ch.RedactedConfig())
			}
		}
		for _, ch := range cfg.Redacted().Channels {
			if len(ch.SecretFields) > 0 && json.Valid(ch.Config) {
				if contains(ch.Config, "secret-a") {
					t.Fatalf("redacted config leaks env value: %s", ch.Config)
				}
			}
		}
	})
}

func contains(b []byte, s string) bool {
	return len(s) > 0 && len(b) >= len(s) && indexOf(string(b), s) >= 0
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
