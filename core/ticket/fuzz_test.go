package ticket

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzPatch applies arbitrary patch values (they come from API requests):
// an invalid patch changes nothing and names its fields; a valid one leaves
// a ticket whose fields are all valid.
func FuzzPatch(f *testing.F) {
	f.Add("open", "high", "vpn,billing", "subject")
	f.Add("new", "asap", "a b", "")
	f.Add("closed", "", ",,", " ")
	f.Fuzz(func(t *testing.T, status, priority, tags, subject string) {
		tk := &Ticket{Status: StatusOpen, Tags: []string{"x"}}
		before := *tk
		tl := strings.Split(tags, ",")
		p := Patch{Status: (*Status)(&status), Priority: (*Priority)(&priority), Tags: &tl, Subject: &subject}
		_, err := p.Apply(tk, 1, t0)
		var ve *ValidationError
		if err != nil {
			if !errors.As(err, &ve) || len(ve.Fields) == 0 {
				t.Fatalf("error %v is not a field error", err)
			}
			if tk.Status != before.Status || tk.Subject != before.Subject || len(tk.Tags) != 1 {
				t.Fatal("invalid patch changed the ticket")
			}
			return
		}
		if !ValidStatus(tk.Status) || !ValidPriority(tk.Priority) || tk.Status == StatusNew {
			t.Fatalf("valid patch produced %+v", tk)
		}
		for _, tag := range tk.Tags {
			if tag == "" || strings.ContainsAny(tag, " \t\r\n,") || tag != strings.ToLower(tag) {
				t.Fatalf("bad tag %q kept", tag)
			}
		}
	})
}

// FuzzSubjectFrom checks subjects derived from message text stay short
// (at most MaxSubjectChars characters and the ellipsis, counted in
// characters, not bytes) and valid UTF-8 when the text is.
func FuzzSubjectFrom(f *testing.F) {
	f.Add("", "hello\nworld")
	f.Add("Re: x", "")
	f.Fuzz(func(t *testing.T, subject, text string) {
		s := SubjectFrom(subject, text)
		if s == "" || utf8.RuneCountInString(s) > MaxSubjectChars+1 {
			t.Fatalf("subject %q", s)
		}
		if utf8.ValidString(subject) && utf8.ValidString(text) && !utf8.ValidString(s) {
			t.Fatalf("subject %q not valid UTF-8", s)
		}
	})
}
