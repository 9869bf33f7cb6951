package linechan

import (
	"fmt"
	"strings"
	"unicode/utf16"
)

// LINE text message limits: 5,000 characters (counted in UTF-16 code
// units) per message, 5 messages per push.
const (
	maxTextUnits    = 5000
	maxPushMessages = 5
)

// splitText cuts text into at most maxMsgs pieces of at most maxUnits
// UTF-16 code units, preferring line breaks, then spaces. It never splits
// a character. Whitespace-only text yields no pieces.
func splitText(text string, maxUnits, maxMsgs int) ([]string, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	var out []string
	for text != "" {
		if len(out) == maxMsgs {
			return nil, fmt.Errorf("the reply is longer than LINE allows (%d messages of %d characters)", maxMsgs, maxUnits)
		}
		cut := cutPoint(text, maxUnits)
		piece := strings.TrimRight(text[:cut], " \t\r\n")
		if piece != "" {
			out = append(out, piece)
		}
		text = strings.TrimLeft(text[cut:], " \t\r\n")
	}
	return out, nil
}

// cutPoint returns the byte offset at which to end the next piece.
func cutPoint(text string, maxUnits int) int {
	units, end := 0, len(text)
	lastNL, lastSpace := -1, -1
	for i, r := range text {
		n := utf16.RuneLen(r)
		if n < 0 {
			n = 1
		}
		if units+n > maxUnits {
			end = i
			break
		}
		units += n
		switch r {
		case '\n':
			lastNL = i + 1
		case ' ', '\t':
			lastSpace = i + 1
		}
	}
	if end == len(text) {
		return end
	}
	// Break at a line end or space in the last fifth of the piece.
	minCut := end * 4 / 5
	if lastNL > minCut {
		return lastNL
	}
	if lastSpace > minCut {
		return lastSpace
	}
	return end
}
