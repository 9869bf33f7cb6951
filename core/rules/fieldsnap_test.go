package rules

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// refFieldSnap is the reference: encoding/json.
func refFieldSnap(raw []byte) (fieldSnap, bool) {
	var s fieldSnap
	if json.Unmarshal(raw, &s) != nil || s.Status == "" {
		return fieldSnap{}, false
	}
	return s, true
}

// TestDecodeFieldSnap checks the follower's field reader against
// encoding/json on tickets as the store encodes them, with awkward strings
// around the fields it reads, and on data it must leave to encoding/json.
func TestDecodeFieldSnap(t *testing.T) {
	tickets := []*ticket.Ticket{
		{ID: 1, Subject: "plain", Status: ticket.StatusNew, Tags: []string{}},
		{ID: 2, Subject: `tricky ,"status":"solved" and {"group":"x"} \`, Status: ticket.StatusOpen, Priority: ticket.PriorityUrgent, Group: "tier 2", AssigneeID: 42, Tags: []string{`,"assignee_id":7`, `"priority":"low"`}},
		{ID: 3, Subject: "quote\" in subject", Status: ticket.StatusSolved, Group: `g "quoted"`, SolvedAt: time.Unix(5, 0).UTC()},
		{ID: 4, Subject: "no status"},
		{ID: 5, Status: ticket.StatusPending, Brand: "b", Channel: "wa", ConversationKey: `k","status":"closed`},
	}
	for _, tk := range tickets {
		raw, err := json.Marshal(tk)
		if err != nil {
			t.Fatal(err)
		}
		got, gotOK := decodeFieldSnap(raw)
		want, wantOK := refFieldSnap(raw)
		if got != want || gotOK != wantOK {
			t.Errorf("ticket %d: read %+v %v, encoding/json %+v %v", tk.ID, got, gotOK, want, wantOK)
		}
	}
	// Not the store's layout: left to encoding/json. (Keys other than the
	// struct's lower-case ones, which encoding/json would match
	// case-insensitively, cannot occur: the data is json.Marshal of a
	// ticket.Ticket.)
	for _, raw := range []string{
		`{"status":"open","status":"solved"}`,
		`{"status":"op\u0065n"}`,
		`{"status":"open","assignee_id":1e3}`,
		`{"data":{"status":"open"},"status":"new"}`,
		`not json`,
		`{"status":5}`,
		`{}`,
	} {
		got, gotOK := decodeFieldSnap([]byte(raw))
		want, wantOK := refFieldSnap([]byte(raw))
		if got != want || gotOK != wantOK {
			t.Errorf("%s: read %+v %v, encoding/json %+v %v", raw, got, gotOK, want, wantOK)
		}
	}
}

// FuzzDecodeFieldSnap builds tickets from fuzzed strings and checks the
// field reader against encoding/json.
func FuzzDecodeFieldSnap(f *testing.F) {
	f.Add("s", "open", "", "", uint64(0), "tag")
	f.Add(`,"status":"x"`, "solved", "urgent", `g\"`, uint64(7), `{"group":"y"}`)
	f.Fuzz(func(t *testing.T, subject, status, priority, group string, assignee uint64, tag string) {
		raw, err := json.Marshal(&ticket.Ticket{Subject: subject, Status: ticket.Status(status), Priority: ticket.Priority(priority), Group: group, AssigneeID: assignee, Tags: []string{tag}, Channel: tag})
		if err != nil {
			return
		}
		got, gotOK := decodeFieldSnap(raw)
		want, wantOK := refFieldSnap(raw)
		if got != want || gotOK != wantOK {
			t.Fatalf("%s: read %+v %v, encoding/json %+v %v", raw, got, gotOK, want, wantOK)
		}
	})
}
