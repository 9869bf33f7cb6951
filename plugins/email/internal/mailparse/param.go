package mailparse

import (
	"sort"
	"strconv"
	"strings"
)

// headerParam returns the value of parameter name (e.g. "filename") of a
// structured header value such as Content-Disposition, decoded to UTF-8.
// It reads what mail programs write, not only what the RFCs allow:
//   - RFC 2231 extended values in any charset (filename*=iso-8859-1”r%E9sum%E9.pdf)
//     and continuations (filename*0*=…; filename*1*=…);
//   - RFC 2047 encoded words inside a quoted value (Outlook, Gmail);
//   - raw 8-bit bytes in a quoted value;
//   - unquoted values with spaces up to the next ';'.
//
// It returns "" when the parameter is absent.
func headerParam(v, name string) string {
	name = strings.ToLower(name)
	type seg struct {
		n   int
		ext bool
		val string
	}
	var plain string
	havePlain := false
	var segs []seg
	for _, p := range splitParams(v) {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.TrimSpace(val)
		if k == name {
			if !havePlain {
				plain, havePlain = unquote(val), true
			}
			continue
		}
		if !strings.HasPrefix(k, name+"*") {
			continue
		}
		rest := k[len(name)+1:]
		ext := strings.HasSuffix(rest, "*") || rest == ""
		rest = strings.TrimSuffix(rest, "*")
		n := 0
		if rest != "" {
			var err error
			if n, err = strconv.Atoi(rest); err != nil || n < 0 || n > 999 {
				continue
			}
		}
		segs = append(segs, seg{n: n, ext: ext, val: val})
	}
	if len(segs) > 0 {
		sort.SliceStable(segs, func(i, j int) bool { return segs[i].n < segs[j].n })
		charset := ""
		var raw []byte
		for i, s := range segs {
			val := s.val
			if !s.ext {
				raw = append(raw, unquote(val)...)
				continue
			}
			val = unquote(val)
			if i == 0 {
				// charset'language'value
				if cs, rest, ok := strings.Cut(val, "'"); ok {
					if _, rest2, ok := strings.Cut(rest, "'"); ok {
						charset, val = cs, rest2
					}
				}
			}
			raw = append(raw, percentDecode(val)...)
		}
		s, _ := decodeText(raw, charset, false)
		if s != "" {
			return decodeHeader(s)
		}
	}
	if havePlain {
		return decodeHeader(plain)
	}
	return ""
}

// splitParams splits a header value at the semicolons outside quotes.
func splitParams(v string) []string {
	var out []string
	var b strings.Builder
	inQuote, esc := false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case esc:
			esc = false
		case c == '\\' && inQuote:
			esc = true
		case c == '"':
			inQuote = !inQuote
		case c == ';' && !inQuote:
			out = append(out, b.String())
			b.Reset()
			continue
		}
		b.WriteByte(c)
	}
	return append(out, b.String())
}

// unquote removes the quotes around a quoted-string and its backslash
// escapes; an unquoted value is trimmed.
func unquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) < 2 || v[0] != '"' {
		return v
	}
	v = v[1:]
	v = strings.TrimSuffix(v, `"`)
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// percentDecode decodes %XX escapes, keeping a malformed one as it is.
func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}
