package mailparse

import (
	"regexp"
	"strings"
)

var (
	// attributionRE matches the line a mail program writes above quoted
	// history: "On Mon, 1 Jan 2024 at 10:00, Ann <a@b> wrote:" and its
	// translations (de, fr, es, it, nl, pt, sv, ja).
	attributionRE = regexp.MustCompile(`(?i)^(on\s.+\swrote:|am\s.+\sschrieb.*:|le\s.+\sa\s+écrit\s*:|el\s.+\sescribió:|il\s.+\sha\s+scritto:|op\s.+\sschreef.*:|em\s.+\sescreveu:|den\s.+\sskrev.*:|.+のメッセージ:|.+wrote:)\s*$`)
	// attributionStartRE matches the first line of an attribution that the
	// sender's program wrapped over two lines.
	attributionStartRE = regexp.MustCompile(`(?i)^(on|am|le|el|il|op|em|den)\s.+[0-9]`)
	originalRE         = regexp.MustCompile(`(?i)^-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original|messaggio originale|oorspronkelijk bericht)\s*-{2,}$`)
	outlookRuleRE      = regexp.MustCompile(`^_{20,}$`)
	headerBlockRE      = regexp.MustCompile(`(?i)^\*?(from|von|de|da|van|från|差出人)\s*:\*?\s`)
	headerNextRE       = regexp.MustCompile(`(?i)^\*?(sent|date|gesendet|datum|envoyé|enviado|inviato|verzonden|skickat|送信日時|to|an|à|para|a|aan|till)\s*:\*?\s`)
	mobileSigRE        = regexp.MustCompile(`(?i)^(sent from my .+|sent from (outlook|mail) for .+|get outlook for .+|von meinem .+ gesendet|envoyé de mon .+|enviado desde mi .+)$`)
)

// StripQuoted returns the part of a plain-text reply written by its author:
// quoted history (">" lines, an attribution line such as "On … wrote:" and
// everything below it, Outlook's "-----Original Message-----" and header
// blocks) and the signature (below an RFC 3676 "-- " delimiter, or a
// "Sent from my phone" line) are removed. Text the author wrote between
// quoted lines (an inline, bottom-posted answer) is kept. When stripping
// would leave nothing, the full text is returned: a message is never shown
// empty because of a guess.
func StripQuoted(text string) string {
	full := strings.TrimSpace(strings.ReplaceAll(text, "\r\n", "\n"))
	lines := strings.Split(full, "\n")

	cut := len(lines)
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		switch {
		case strings.TrimRight(lines[i], "\r") == "-- ":
			cut = i
		case originalRE.MatchString(line):
			cut = i
		case outlookRuleRE.MatchString(line) && nextNonBlankMatches(lines, i+1, headerBlockRE):
			cut = i
		case headerBlockRE.MatchString(line) && (i == 0 || strings.TrimSpace(lines[i-1]) == "") && nextNonBlankMatches(lines, i+1, headerNextRE):
			cut = i
		case attributionRE.MatchString(line) && isAttribution(lines, i):
			cut = i
		case i+1 < len(lines) && attributionStartRE.MatchString(line) &&
			attributionRE.MatchString(line+" "+strings.TrimSpace(lines[i+1])) && isAttribution(lines, i+1):
			cut = i
		}
		if cut != len(lines) {
			break
		}
	}

	kept := make([]string, 0, cut)
	for _, l := range lines[:cut] {
		if strings.HasPrefix(strings.TrimLeft(l, " "), ">") {
			continue
		}
		kept = append(kept, strings.TrimRight(l, " \t"))
	}
	// Drop a trailing mobile signature.
	for len(kept) > 0 {
		last := strings.TrimSpace(kept[len(kept)-1])
		if last == "" || mobileSigRE.MatchString(last) {
			kept = kept[:len(kept)-1]
			continue
		}
		break
	}
	out := collapseBlankLines(kept)
	if out == "" {
		return full
	}
	return out
}

// isAttribution reports whether the attribution-looking line at i is one:
// it is followed by quoted lines, by nothing, or by a header block, or it
// has the explicit "On … wrote:" shape that no one writes otherwise.
func isAttribution(lines []string, i int) bool {
	line := strings.TrimSpace(lines[i])
	if strings.HasPrefix(strings.ToLower(line), "on ") || strings.HasSuffix(line, "のメッセージ:") {
		return true
	}
	for j := i + 1; j < len(lines); j++ {
		t := strings.TrimSpace(lines[j])
		if t == "" {
			continue
		}
		return strings.HasPrefix(t, ">")
	}
	return true
}

func nextNonBlankMatches(lines []string, from int, re *regexp.Regexp) bool {
	for j := from; j < len(lines) && j < from+3; j++ {
		t := strings.TrimSpace(lines[j])
		if t == "" {
			continue
		}
		return re.MatchString(t)
	}
	return false
}

func collapseBlankLines(lines []string) string {
	var b strings.Builder
	blank := 0
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			blank++
			continue
		}
		if b.Len() > 0 {
			if blank > 0 {
				b.WriteString("\n\n")
			} else {
				b.WriteString("\n")
			}
		}
		blank = 0
		b.WriteString(l)
	}
	return b.String()
}
