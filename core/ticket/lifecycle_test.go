package ticket

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var (
	t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)
)

func st(s Status) *Status        { return &s }
func pr(p Priority) *Priority    { return &p }
func tags(v ...string) *[]string { return &v }

func TestRequesterMessage(t *testing.T) {
	cases := []struct {
		from    Status
		want    Status
		changed bool
		err     error
	}{
		{StatusNew, StatusNew, false, nil},
		{StatusOpen, StatusOpen, false, nil},
		{StatusPending, StatusOpen, true, nil},
		{StatusHold, StatusOpen, true, nil},
		{StatusSolved, StatusOpen, true, nil},
		{StatusClosed, StatusClosed, false, ErrClosed},
	}
	for _, c := range cases {
		t.Run(string(c.from), func(t *testing.T) {
			tk := &Ticket{Status: c.from, UpdatedAt: t0}
			if c.from == StatusSolved {
				tk.SolvedAt = t0
			}
			changed, err := ApplyRequesterMessage(tk, t1)
			if !errors.Is(err, c.err) || changed != c.changed || tk.Status != c.want {
				t.Fatalf("got %s changed=%v err=%v", tk.Status, changed, err)
			}
			if c.from == StatusSolved && !tk.SolvedAt.IsZero() {
				t.Fatal("solved_at kept after reopening")
			}
			if c.err != nil && !tk.UpdatedAt.Equal(t0) {
				t.Fatal("closed ticket touched")
			}
		})
	}
}

func TestAgentComment(t *testing.T) {
	cases := []struct {
		name     string
		from     Status
		public   bool
		status   *Status
		want     Status
		assignee uint64
		err      error
	}{
		{"public reply opens new", StatusNew, true, nil, StatusOpen, 0, nil},
		{"note leaves new", StatusNew, false, nil, StatusNew, 0, nil},
		{"public reply keeps pending", StatusPending, true, nil, StatusPending, 0, nil},
		{"named status wins over new->open", StatusNew, true, st(StatusPending), StatusPending, 0, nil},
		{"solving unassigned assigns agent", StatusOpen, true, st(StatusSolved), StatusSolved, 7, nil},
		{"never back to new", StatusOpen, true, st(StatusNew), StatusOpen, 0, &ValidationError{}},
		{"closed is final", StatusClosed, true, nil, StatusClosed, 0, ErrClosed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tk := &Ticket{Status: c.from}
			_, err := ApplyAgentComment(tk, 7, c.public, c.status, t1)
			var ve *ValidationError
			switch {
			case c.err == nil && err != nil,
				errors.Is(c.err, ErrClosed) && !errors.Is(err, ErrClosed),
				c.err != nil && !errors.Is(c.err, ErrClosed) && !errors.As(err, &ve):
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			if tk.Status != c.want || tk.AssigneeID != c.assignee {
				t.Fatalf("status %s assignee %d", tk.Status, tk.AssigneeID)
			}
		})
	}
}

func TestPatch(t *testing.T) {
	cases := []struct {
		name   string
		from   Ticket
		patch  Patch
		fields []string // invalid fields expected
		check  func(t *testing.T, tk *Ticket)
	}{
		{"solve unassigned assigns actor", Ticket{Status: StatusOpen}, Patch{Status: st(StatusSolved)}, nil, func(t *testing.T, tk *Ticket) {
			if tk.AssigneeID != 42 || !tk.SolvedAt.Equal(t1) {
				t.Fatalf("%+v", tk)
			}
		}},
		{"solve assigned keeps assignee", Ticket{Status: StatusOpen, AssigneeID: 5}, Patch{Status: st(StatusSolved)}, nil, func(t *testing.T, tk *Ticket) {
			if tk.AssigneeID != 5 {
				t.Fatalf("%+v", tk)
			}
		}},
		{"solve with explicit assignee in same patch", Ticket{Status: StatusOpen}, Patch{Status: st(StatusSolved), AssigneeID: ptrU(9)}, nil, func(t *testing.T, tk *Ticket) {
			if tk.AssigneeID != 9 {
				t.Fatalf("%+v", tk)
			}
		}},
		{"tags normalised", Ticket{Status: StatusOpen}, Patch{Tags: tags(" VPN", "vpn", "Billing")}, nil, func(t *testing.T, tk *Ticket) {
			if fmt.Sprint(tk.Tags) != "[vpn billing]" {
				t.Fatalf("%v", tk.Tags)
			}
		}},
		{"close a solved ticket", Ticket{Status: StatusSolved, SolvedAt: t0}, Patch{Status: st(StatusClosed)}, nil, func(t *testing.T, tk *Ticket) {
			if tk.Status != StatusClosed || !tk.SolvedAt.Equal(t0) {
				t.Fatalf("%+v", tk)
			}
		}},
		{"reopen clears solved_at", Ticket{Status: StatusSolved, SolvedAt: t0}, Patch{Status: st(StatusOpen)}, nil, func(t *testing.T, tk *Ticket) {
			if !tk.SolvedAt.IsZero() {
				t.Fatalf("%+v", tk)
			}
		}},
		{"bad values", Ticket{Status: StatusOpen}, Patch{Status: st("done"), Priority: pr("asap"), Tags: tags("a b"), Subject: ptrS(" ")}, []string{"subject", "status", "priority", "tags"}, nil},
		{"back to new", Ticket{Status: StatusOpen}, Patch{Status: st(StatusNew)}, []string{"status"}, nil},
		{"close unsolved", Ticket{Status: StatusOpen}, Patch{Status: st(StatusClosed)}, []string{"status"}, nil},
		{"empty tag", Ticket{Status: StatusOpen}, Patch{Tags: tags("")}, []string{"tags"}, nil},
		{"long tag", Ticket{Status: StatusOpen}, Patch{Tags: tags(strings.Repeat("x", 81))}, []string{"tags"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tk := c.from
			before := fmt.Sprintf("%+v", tk)
			_, err := c.patch.Apply(&tk, 42, t1)
			if c.fields != nil {
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("err = %v, want validation error", err)
				}
				var got []string
				for _, f := range ve.Fields {
					got = append(got, f.Field)
				}
				if fmt.Sprint(got) != fmt.Sprint(c.fields) {
					t.Fatalf("invalid fields %v, want %v", got, c.fields)
				}
				if after := fmt.Sprintf("%+v", tk); after != before {
					t.Fatalf("ticket changed on invalid patch: %s", after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, &tk)
		})
	}
	closed := &Ticket{Status: StatusClosed}
	if _, err := (Patch{Priority: pr(PriorityHigh)}).Apply(closed, 1, t1); !errors.Is(err, ErrClosed) {
		t.Fatalf("patch on closed: %v", err)
	}
}

func ptrU(v uint64) *uint64 { return &v }
func ptrS(v string) *string { return &v }

func TestCloseIfDue(t *testing.T) {
	after := 96 * time.Hour
	cases := []struct {
		status Status
		solved time.Time
		now    time.Time
		want   bool
	}{
		{StatusSolved, t0, t0.Add(after), true},
		{StatusSolved, t0, t0.Add(after - time.Second), false},
		{StatusOpen, t0, t0.Add(2 * after), false},
		{StatusSolved, time.Time{}, t0, false},
	}
	for i, c := range cases {
		tk := &Ticket{Status: c.status, SolvedAt: c.solved}
		if got := CloseIfDue(tk, after, c.now); got != c.want || (got && tk.Status != StatusClosed) {
			t.Fatalf("case %d: %v %s", i, got, tk.Status)
		}
	}
}

func TestNewFollowUp(t *testing.T) {
	closed := &Ticket{ID: 7, Subject: "VPN", Status: StatusClosed, Channel: "it", Via: "slack", Brand: "acme", RequesterID: 3, AssigneeID: 4, Group: "it", Tags: []string{"vpn"}, ConversationKey: "D1"}
	f := NewFollowUp(closed, t1)
	if f.Via != ViaClosedTicket || f.FollowUpOf != 7 || f.Status != StatusNew || f.AssigneeID != 0 || f.RequesterID != 3 || fmt.Sprint(f.Tags) != "[vpn]" || f.ID != 0 {
		t.Fatalf("%+v", f)
	}
	f.Tags[0] = "changed"
	if closed.Tags[0] != "vpn" {
		t.Fatal("follow-up shares the closed ticket's tags")
	}
}

func TestApplyReceipt(t *testing.T) {
	cases := []struct {
		from, status, want string
		changed            bool
	}{
		{DeliverySent, DeliveryDelivered, DeliveryDelivered, true},
		{DeliveryDelivered, DeliveryRead, DeliveryRead, true},
		{DeliveryRead, DeliveryDelivered, DeliveryRead, false},
		{DeliveryRead, DeliverySent, DeliveryRead, false},
		{DeliverySent, DeliveryFailed, DeliveryFailed, true},
		{DeliveryDelivered, DeliveryFailed, DeliveryDelivered, false},
		{DeliveryFailed, DeliverySent, DeliveryFailed, false},
		{DeliveryFailed, DeliveryDelivered, DeliveryDelivered, true},
		{DeliveryPending, DeliveryRead, DeliveryRead, true},
	}
	for _, c := range cases {
		d := &Delivery{Status: c.from}
		changed, err := ApplyReceipt(d, c.status, "x", t1)
		if err != nil || changed != c.changed || d.Status != c.want {
			t.Fatalf("%s + %s: %s changed=%v err=%v", c.from, c.status, d.Status, changed, err)
		}
	}
	if _, err := ApplyReceipt(&Delivery{}, "bogus", "", t1); err == nil {
		t.Fatal("unknown status accepted")
	}
}

func TestSubjectFrom(t *testing.T) {
	cases := []struct{ subject, text, want string }{
		{"Hello", "body", "Hello"},
		{"", "\n\n  first line \nsecond", "first line"},
		{"", "", "(no subject)"},
		// The limit counts characters, not bytes.
		{"", strings.Repeat("é", 100), strings.Repeat("é", 100)},
		{"", strings.Repeat("é", 200), strings.Repeat("é", MaxSubjectChars) + "…"},
		{strings.Repeat("印刷", 60), "", strings.Repeat("印刷", 60)},
		{strings.Repeat("印", 151), "", strings.Repeat("印", MaxSubjectChars) + "…"},
	}
	for _, c := range cases {
		if got := SubjectFrom(c.subject, c.text); got != c.want {
			t.Fatalf("SubjectFrom(%q, %q) = %q", c.subject, c.text, got)
		}
	}
}

func TestNormalizeIdentity(t *testing.T) {
	cases := []struct {
		typ, value string
		want       Identity
	}{
		{"email", " Ann@Example.TEST ", Identity{"email", "ann@example.test"}},
		{"WhatsApp", "+15550001", Identity{"whatsapp", "15550001"}},
		{"slack", "T1:U2", Identity{"slack", "T1:U2"}},
		// Found by FuzzParseIdentity: "+ 0" became " 0", which normalised
		// again to "0".
		{"whatsapp", "+ 0", Identity{"whatsapp", "0"}},
		{"phone", " ++ 1555", Identity{"phone", "1555"}},
	}
	for _, c := range cases {
		got := NormalizeIdentity(c.typ, c.value)
		if got != c.want {
			t.Fatalf("NormalizeIdentity(%q, %q) = %v, want %v", c.typ, c.value, got, c.want)
		}
		if again := NormalizeIdentity(got.Type, got.Value); again != got {
			t.Fatalf("NormalizeIdentity is not stable: %v -> %v", got, again)
		}
	}
}
