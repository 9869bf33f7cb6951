package mailparse

import (
	"regexp"
	"strconv"
	"strings"
)

var (
	subjectTokenRE = regexp.MustCompile(`\[#([0-9]{1,19})\]`)
	// replyPrefixRE matches the reply and forward prefixes mail programs
	// add, in the languages seen most often (Re, Fwd, AW, WG, SV, VS, RE:…),
	// possibly repeated and with a counter ("Re[2]:").
	replyPrefixRE = regexp.MustCompile(`(?i)^\s*((re|fw|fwd|aw|wg|sv|vs|antw|r|tr|rif|enc|res)(\[[0-9]+\])?\s*[:：]\s*)+`)
)

// SubjectTicket returns the ticket id of the last "[#42]" token in a subject,
// or 0 when there is none.
func SubjectTicket(subject string) uint64 {
	m := subjectTokenRE.FindAllStringSubmatch(subject, -1)
	if len(m) == 0 {
		return 0
	}
	id, err := strconv.ParseUint(m[len(m)-1][1], 10, 64)
	if err != nil {
		return 0
	}
	return id
}

// CleanSubject removes reply/forward prefixes and "[#N]" tokens from a
// subject, so that an outbound subject can be rebuilt as
// "Re: <subject> [#N]" without piling up prefixes.
func CleanSubject(subject string) string {
	s := subjectTokenRE.ReplaceAllString(subject, "")
	for {
		t := replyPrefixRE.ReplaceAllString(s, "")
		if t == s {
			break
		}
		s = t
	}
	return strings.Join(strings.Fields(s), " ")
}
