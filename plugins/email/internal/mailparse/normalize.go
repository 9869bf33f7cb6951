package mailparse

import (
	"bytes"
	"fmt"
	"strings"
)

// MaxDepth is the deepest multipart nesting that is read. A message nested
// deeper keeps the parts above the limit; the parts below it are dropped
// and the message says so in Errors (and Truncated).
const MaxDepth = 32

// MaxParts is the largest number of MIME parts that is read, counted over
// the message and the messages forwarded in it; later parts are dropped
// the same way.
const MaxParts = 500

// maxHeaderLines bounds one header block: a "header" longer than this is
// taken as body text.
const maxHeaderLines = 2000

// budget is what is left of MaxDepth and MaxParts while a message and the
// messages forwarded inside it are read.
type budget struct {
	depth int
	parts int
}

// normalized is a message rewritten into a form the MIME parser reads in
// linear time and without losing text.
type normalized struct {
	raw       []byte
	notes     []string // what was repaired, for Errors
	truncated bool     // parts were dropped because of MaxDepth/MaxParts
	parts     int      // parts kept
}

// frame is one open multipart of the message being normalized.
type frame struct {
	boundary []byte // "--" + boundary
}

// normalize walks the MIME structure of raw line by line, in one pass and
// without recursion, and writes a copy that:
//   - starts with a header block ended by a blank line (an mbox "From "
//     line is dropped; the first line that is neither a header field nor
//     a continuation starts the body, as in Python's email package);
//   - has the same blank line after every part's header (a part with no
//     header at all gets an empty one, which means text/plain);
//   - names, for a multipart whose declared boundary never appears, the
//     boundary its body does use, or reads it as text when there is none;
//   - keeps at most b.depth levels of multipart and b.parts parts: a
//     multipart below the limit becomes an empty text part and its content
//     is skipped up to its parent's next boundary; after the last allowed
//     part every open multipart is closed.
//
// The MIME parser then never nests deeper than the limit, whatever the
// input, so its cost (proportional to depth × size) stays bounded.
func normalize(raw []byte, b budget) normalized {
	var n normalized
	out := bytes.NewBuffer(make([]byte, 0, len(raw)+64))
	lines := splitLines(raw)
	seen := boundaryCounts(lines)

	i := 0
	// An mbox separator line ("From ann@example.com Mon Jan  2 …") is not
	// a header field.
	if len(lines) > 0 && bytes.HasPrefix(lines[0], []byte("From ")) {
		i++
		n.notes = append(n.notes, "an mbox \"From \" line preceded the header; it was dropped")
	}
	var stack []frame
	depthOf := func() int { return len(stack) }

	// header reads the header block starting at line i, writes it (with a
	// rewritten Content-Type when needed) and its terminating blank line,
	// and returns the index of the first body line and the boundary the
	// block opens ("" for a leaf).
	header := func(i int, where string, mayNest bool) (int, []byte) {
		start := i
		var fields [][]byte
		prevSemicolon := false
		for i < len(lines) && i-start < maxHeaderLines {
			l := lines[i]
			t := trimEOL(l)
			if len(t) == 0 {
				i++
				break
			}
			if isDelimiterOf(t, stack) {
				n.notes = append(n.notes, where+": the part has a header but no body")
				break
			}
			switch {
			case len(fields) == 0 && (t[0] == ' ' || t[0] == '\t') && isHeaderField(bytes.TrimLeft(t, " \t")):
				n.notes = append(n.notes, where+": the first header field was indented")
				fields = append(fields, append([]byte(nil), bytes.TrimLeft(l, " \t")...))
			case len(fields) > 0 && (t[0] == ' ' || t[0] == '\t'):
				fields[len(fields)-1] = append(fields[len(fields)-1], l...)
			case isHeaderField(t):
				fields = append(fields, append([]byte(nil), l...))
			case prevSemicolon && bytes.IndexByte(t, '=') > 0 && len(fields) > 0:
				// "Content-Type: x;\r\nname=…" written without the
				// indentation of a folded line.
				n.notes = append(n.notes, where+": a folded header line was not indented")
				fields[len(fields)-1] = append(append(fields[len(fields)-1], ' '), l...)
			default:
				if len(fields) == 0 {
					n.notes = append(n.notes, where+": there is no header")
				} else {
					n.notes = append(n.notes, where+": no blank line after the header")
				}
				goto done
			}
			prevSemicolon = bytes.HasSuffix(bytes.TrimRight(t, " \t"), []byte(";"))
			i++
		}
	done:
		// The first Content-Type counts, as for the MIME parser; others
		// are dropped so that no reader can pick a different one.
		var ctype string
		ctIndex := -1
		kept := fields[:0]
		for _, f := range fields {
			if name, value, ok := bytes.Cut(f, []byte(":")); ok && strings.EqualFold(strings.TrimSpace(string(name)), "Content-Type") {
				if ctIndex >= 0 {
					n.notes = appendNew(n.notes, where+": more than one Content-Type; the first was used")
					continue
				}
				ctype, ctIndex = unfold(value), len(kept)
			}
			kept = append(kept, f)
		}
		fields = kept
		mtype, params, _, _ := parseMediaType(ctype)
		var open []byte
		if strings.HasPrefix(mtype, "multipart/") {
			bnd := params["boundary"]
			switch {
			case bnd == "":
				// The parser reads a multipart without boundary as one part.
			case seen[bnd] == 0:
				if alt := firstBoundaryLine(lines[i:], stack); alt != "" && seen[alt] > 1 {
					n.notes = append(n.notes, fmt.Sprintf("%s: boundary %q never appears; the body's boundary %q was used", where, bnd, alt))
					bnd = alt
					fields[ctIndex] = []byte("Content-Type: " + mtype + "; boundary=\"" + alt + "\"\r\n")
				} else {
					n.notes = append(n.notes, fmt.Sprintf("%s: boundary %q never appears; the body was read as text", where, bnd))
					fields[ctIndex] = []byte("Content-Type: text/plain\r\n")
					bnd = ""
				}
			}
			if bnd != "" && isDelimiterOf([]byte("--"+bnd), stack) {
				// A boundary of an enclosing multipart (RFC 2046 forbids
				// it): its lines belong to the enclosing one.
				n.notes = append(n.notes, fmt.Sprintf("%s: boundary %q is an enclosing multipart's; the part was read as text", where, bnd))
				fields[ctIndex] = []byte("Content-Type: text/plain\r\n")
				bnd = ""
			}
			if bnd != "" {
				if !mayNest {
					n.truncated = true
					n.notes = append(n.notes, fmt.Sprintf("%s: the message nests more than %d multipart levels; the parts below were dropped", where, MaxDepth))
					fields[ctIndex] = []byte("Content-Type: text/plain\r\nX-Patchbay-Dropped: nesting\r\n")
					bnd = ""
					open = []byte{} // marks "skip the body"
				} else {
					open = []byte("--" + bnd)
				}
			}
		}
		for _, f := range fields {
			out.Write(f)
			if !bytes.HasSuffix(f, []byte("\n")) {
				out.WriteString("\r\n")
			}
		}
		out.WriteString("\r\n")
		return i, open
	}

	var open []byte
	i, open = header(i, "header", b.depth > 0)
	if len(open) > 0 {
		stack = append(stack, frame{boundary: open})
	}
	skipping := open != nil && len(open) == 0
	parts := 0
	for i < len(lines) {
		l := lines[i]
		t := trimEOL(l)
		if len(stack) == 0 {
			if !skipping {
				out.Write(l)
			}
			i++
			continue
		}
		level, term := matchBoundary(t, stack)
		if level < 0 {
			if !skipping {
				out.Write(l)
			}
			i++
			continue
		}
		// A boundary of an open multipart: everything nested below it
		// ends, and is closed first so that the output nests properly
		// (the MIME parser's time grows exponentially with multiparts
		// left open).
		skipping = false
		if len(stack) > level+1 {
			n.notes = appendNew(n.notes, "a multipart was not closed by its final boundary")
			if b := out.Bytes(); len(b) > 0 && b[len(b)-1] != '\n' {
				out.WriteString("\r\n")
			}
			for k := len(stack) - 1; k > level; k-- {
				out.Write(stack[k].boundary)
				out.WriteString("--\r\n")
			}
		}
		stack = stack[:level+1]
		out.Write(l)
		if !bytes.HasSuffix(l, []byte("\n")) {
			out.WriteString("\r\n")
		}
		i++
		if term {
			stack = stack[:level]
			continue
		}
		parts++
		if parts > b.parts {
			n.truncated = true
			n.notes = append(n.notes, fmt.Sprintf("the message has more than %d parts; the rest was dropped", MaxParts))
			// Give the delimiter just written an empty body, then close
			// every open multipart.
			out.WriteString("Content-Type: text/plain\r\nX-Patchbay-Dropped: parts\r\n\r\n")
			for k := len(stack) - 1; k >= 0; k-- {
				out.WriteString("\r\n")
				out.Write(stack[k].boundary)
				out.WriteString("--\r\n")
			}
			stack = nil
			parts--
			break
		}
		where := fmt.Sprintf("part %d", parts)
		var open []byte
		i, open = header(i, where, depthOf() < b.depth)
		switch {
		case open == nil:
		case len(open) == 0:
			skipping = true
		default:
			stack = append(stack, frame{boundary: open})
		}
	}
	if len(stack) > 0 {
		// Close what the sender left open: the MIME parser's time grows
		// exponentially with unclosed nested multiparts.
		n.notes = appendNew(n.notes, "a multipart was not closed by its final boundary")
		if b := out.Bytes(); len(b) > 0 && b[len(b)-1] != '\n' {
			out.WriteString("\r\n")
		}
		for k := len(stack) - 1; k >= 0; k-- {
			out.Write(stack[k].boundary)
			out.WriteString("--\r\n")
		}
	}
	n.raw = out.Bytes()
	n.parts = parts
	return n
}

// splitLines splits raw after each '\n', keeping the line ends.
func splitLines(raw []byte) [][]byte {
	var lines [][]byte
	for len(raw) > 0 {
		k := bytes.IndexByte(raw, '\n')
		if k < 0 {
			lines = append(lines, raw)
			break
		}
		lines = append(lines, raw[:k+1])
		raw = raw[k+1:]
	}
	return lines
}

func trimEOL(l []byte) []byte {
	return bytes.TrimRight(l, "\r\n")
}

// boundaryCounts counts, for every line that starts with "--", the token
// that follows (without a final "--"): the boundaries the body really uses.
func boundaryCounts(lines [][]byte) map[string]int {
	seen := map[string]int{}
	for _, l := range lines {
		if tok := boundaryToken(trimEOL(l)); tok != "" {
			seen[tok]++
			if trimmed := strings.TrimSuffix(tok, "--"); trimmed != tok && trimmed != "" {
				seen[trimmed]++
			}
		}
	}
	return seen
}

func boundaryToken(t []byte) string {
	if len(t) < 3 || t[0] != '-' || t[1] != '-' || len(t) > 74 {
		return ""
	}
	tok := bytes.TrimRight(t[2:], " \t")
	if len(tok) == 0 {
		return ""
	}
	// RFC 2046 bchars, without the space: a token that can be written
	// back as a quoted boundary parameter.
	for _, c := range tok {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("'()+_,-./:=?", c) >= 0) {
			return ""
		}
	}
	return string(tok)
}

// firstBoundaryLine returns the boundary of the first "--token" line of
// body (before any boundary of an enclosing multipart), "" when there is
// none.
func firstBoundaryLine(body [][]byte, stack []frame) string {
	for k, l := range body {
		if k > 200 {
			break
		}
		t := trimEOL(l)
		if len(bytes.TrimSpace(t)) == 0 {
			continue
		}
		if lvl, _ := matchBoundary(t, stack); lvl >= 0 {
			return ""
		}
		tok := boundaryToken(t)
		if tok != "" && !strings.HasSuffix(tok, "--") {
			return tok
		}
	}
	return ""
}

// matchBoundary returns the level of the open multipart whose delimiter or
// terminator t is (outermost first, as nested parsers see it), and whether
// it is the terminator; -1 when t is no boundary.
func matchBoundary(t []byte, stack []frame) (int, bool) {
	if len(t) < 3 || t[0] != '-' || t[1] != '-' {
		return -1, false
	}
	for k, f := range stack {
		if !bytes.HasPrefix(t, f.boundary) {
			continue
		}
		rest := t[len(f.boundary):]
		if bytes.HasPrefix(rest, []byte("--")) {
			return k, true
		}
		if len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' {
			return k, false
		}
	}
	return -1, false
}

func isDelimiterOf(t []byte, stack []frame) bool {
	lvl, _ := matchBoundary(t, stack)
	return lvl >= 0
}

// isHeaderField reports whether t looks like "Name: value": a non-empty
// name of printable ASCII without spaces, then a colon.
func isHeaderField(t []byte) bool {
	colon := bytes.IndexByte(t, ':')
	if colon <= 0 || colon > 76 {
		return false
	}
	for _, c := range t[:colon] {
		if c <= ' ' || c >= 0x7f {
			// "Subject :" (a space before the colon) is still a field.
			if c == ' ' && len(bytes.TrimRight(t[:colon], " ")) > 0 && bytes.IndexByte(bytes.TrimRight(t[:colon], " "), ' ') < 0 {
				continue
			}
			return false
		}
	}
	return true
}

// unfold joins a folded header value as the MIME parser does: each line
// trimmed, continuation lines joined with one space.
func unfold(v []byte) string {
	var parts []string
	for _, l := range strings.Split(string(v), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}

// lenientMediaType reads a Content-Type that mediatype.Parse rejects
// ("text/plain @ charset=utf-8", "text"): the type when it has the
// type/subtype shape (a bare "text" is text/plain), else "" (which RFC
// 2045 §5.2 says to read as text/plain), and the parameters that can be
// found.
func lenientMediaType(ctype string) (string, map[string]string) {
	params := map[string]string{}
	head, _, _ := strings.Cut(ctype, ";")
	fields := strings.Fields(strings.ToLower(head))
	mtype := ""
	if len(fields) > 0 {
		mtype = strings.Trim(fields[0], `"',`)
	}
	if mtype == "text" {
		mtype = "text/plain"
	}
	if t, s, ok := strings.Cut(mtype, "/"); !ok || !isToken(t) || !isToken(s) {
		mtype = ""
	}
	for _, f := range strings.FieldsFunc(ctype, func(r rune) bool { return r == ';' || r == ' ' || r == '\t' || r == '@' || r == ',' }) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if isToken(k) {
			params[k] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return mtype, params
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?=`, c) {
			return false
		}
	}
	return true
}
