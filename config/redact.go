package config

import (
	"bytes"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
)

// MinRedactLength is the shortest secret value that Redact removes from
// free text: shorter values would match ordinary words and are no secrets
// worth the name.
const MinRedactLength = 4

// SecretValues returns the channel's secret values: every string that came
// from env(), every password of a URL value, and every string under the
// named top-level config fields (those a plugin's manifest marks secret,
// even when written literally in the file). Longest first, without
// duplicates; values shorter than MinRedactLength are left out.
func (ch Channel) SecretValues(secretFields ...string) []string {
	var real, red any
	if len(ch.Config) > 0 {
		if err := json.Unmarshal(ch.Config, &real); err != nil {
			return nil
		}
	}
	if len(ch.redacted) > 0 {
		_ = json.Unmarshal(ch.redacted, &red)
	}
	seen := map[string]bool{}
	add := func(s string) {
		if len(s) >= MinRedactLength {
			seen[s] = true
		}
	}
	collectSecrets(real, red, add)
	if m, ok := real.(map[string]any); ok {
		for _, f := range secretFields {
			stringLeaves(m[f], add)
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

// Redact returns s with every secret value of the channel (see
// SecretValues) replaced by RedactedValue. Use it on any text that may
// echo configuration: plugin errors, reported statuses, validate output.
func (ch Channel) Redact(s string, secretFields ...string) string {
	for _, v := range ch.SecretValues(secretFields...) {
		s = strings.ReplaceAll(s, v, RedactedValue)
	}
	return s
}

// collectSecrets walks the real configuration beside its redacted copy and
// reports the real strings the redacted copy hides.
func collectSecrets(real, red any, add func(string)) {
	if red == RedactedValue {
		stringLeaves(real, add)
		return
	}
	switch r := real.(type) {
	case map[string]any:
		rd, _ := red.(map[string]any)
		for k, v := range r {
			collectSecrets(v, rd[k], add)
		}
	case []any:
		rd, _ := red.([]any)
		for i, v := range r {
			var w any
			if i < len(rd) {
				w = rd[i]
			}
			collectSecrets(v, w, add)
		}
	case string:
		if rs, ok := red.(string); ok && rs != r {
			if u, err := url.Parse(r); err == nil && u.User != nil {
				if p, has := u.User.Password(); has {
					add(p)
					add(url.QueryEscape(p))
				}
			}
		}
	}
}

// hideSecretNamed returns the redacted config with the literal string
// values of secret-named keys (secretName) hidden too: a secret written
// literally in the file is not displayed, though the plugin's manifest that
// would say so is not known yet. (Only for display: Redact scrubs free text
// of declared secrets, not of every value under such a name.)
func hideSecretNamed(red json.RawMessage) json.RawMessage {
	if len(red) == 0 {
		return red
	}
	dec := json.NewDecoder(bytes.NewReader(red))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return red
	}
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			for k, e := range t {
				if _, isString := e.(string); isString && secretName(k) {
					t[k] = RedactedValue
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(v)
	out, err := json.Marshal(v)
	if err != nil {
		return red
	}
	return out
}

// stringLeaves reports every string in v.
func stringLeaves(v any, add func(string)) {
	switch t := v.(type) {
	case string:
		add(t)
	case []any:
		for _, x := range t {
			stringLeaves(x, add)
		}
	case map[string]any:
		for _, x := range t {
			stringLeaves(x, add)
		}
	}
}
