package whatsappchan

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"empty", "", 10, nil},
		{"short", "hello", 10, []string{"hello"}},
		{"exact", "0123456789", 10, []string{"0123456789"}},
		{"at a space", "aaaa bbbb cccc", 10, []string{"aaaa bbbb", "cccc"}},
		{"at a newline", "aaaaaaa\nbbbbbbbbb", 10, []string{"aaaaaaa", "bbbbbbbbb"}},
		{"newline before a space", "aaaaaa\nb cccccc", 10, []string{"aaaaaa", "b cccccc"}},
		{"too early a break is not used", "aa bbbbbbbbbbbb", 10, []string{"aa bbbbbbb", "bbbbb"}},
		{"no break", "abcdefghijklmnopqrstuvwxyz", 10, []string{"abcdefghij", "klmnopqrst", "uvwxyz"}},
		{"multibyte", strings.Repeat("é", 25), 10, []string{strings.Repeat("é", 10), strings.Repeat("é", 10), strings.Repeat("é", 5)}},
	}
	for _, tt := range tests {
		got := splitText(tt.in, tt.max)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
		for _, p := range got {
			if utf8.RuneCountInString(p) > tt.max || !utf8.ValidString(p) {
				t.Errorf("%s: bad part %q", tt.name, p)
			}
		}
	}
}

func TestTemplateText(t *testing.T) {
	if got := templateText("a\n\tb     c"); got != "a b c" {
		t.Errorf("got %q", got)
	}
	if got := templateText(strings.Repeat("ü", 2000)); utf8.RuneCountInString(got) != 1024 || !strings.HasSuffix(got, "...") {
		t.Errorf("long parameter: %d runes", utf8.RuneCountInString(got))
	}
	if got := templateText("  "); got != "-" {
		t.Errorf("empty parameter: %q", got)
	}
}
