package mailparse

import "testing"

func TestStripQuoted(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"plain", "Hello\n\nworld", "Hello\n\nworld"},
		{"gmail top post", "Thanks, that fixed it.\n\nOn Mon, 2 Jan 2006 at 15:04, Support <support@acme.test> wrote:\n> Please restart the VPN client.\n> Regards", "Thanks, that fixed it."},
		{"wrapped attribution", "Works now.\n\nOn Mon, 2 Jan 2006 at 15:04, Acme Support\n<support@acme.test> wrote:\n\n> Please restart.", "Works now."},
		{"attribution without quote marks", "ok\n\nOn Tue, Jan 3, 2006 at 9:00 AM Bob <b@x.test> wrote:\nold text", "ok"},
		{"german", "Danke!\n\nAm 02.01.2006 um 15:04 schrieb Support <support@acme.test>:\n> Bitte neu starten.", "Danke!"},
		{"french", "Merci\n\nLe lun. 2 janv. 2006 à 15:04, Support <s@acme.test> a écrit :\n> Bonjour", "Merci"},
		{"japanese", "ありがとうございます。\n\n2006年1月2日(月) 15:04 Support <s@acme.test>のメッセージ:\n> 再起動してください", "ありがとうございます。"},
		{"outlook original message", "Still broken.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\nSubject: VPN", "Still broken."},
		{"outlook rule and header block", "See below.\n\n________________________________\nFrom: Support <support@acme.test>\nSent: Monday, January 2, 2006 3:04 PM\nTo: Ann", "See below."},
		{"outlook bare header block", "Fine.\n\nFrom: Support <support@acme.test>\nDate: Monday\nSubject: VPN\n\nold", "Fine."},
		{"signature", "Hi\n\n-- \nAnn Example\nACME Corp", "Hi"},
		{"mobile signature", "Yes please\n\nSent from my iPhone", "Yes please"},
		{"inline answers kept", "> Which version?\n2.4.1\n> Which OS?\nLinux", "2.4.1\nLinux"},
		{"all quoted falls back to full", "> only quoted\n> text", "> only quoted\n> text"},
		{"from line in text is kept", "The mail came\nFrom: nobody\nyesterday", "The mail came\nFrom: nobody\nyesterday"},
		{"wrote in prose kept", "Ann wrote: the fix\nand it works", "Ann wrote: the fix\nand it works"},
		{"crlf", "Hi\r\n\r\nOn Mon, Support wrote:\r\n> x", "Hi"},
		{"empty", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := StripQuoted(c.in); got != c.want {
				t.Errorf("StripQuoted(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
		})
	}
}
