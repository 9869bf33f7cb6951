package store

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// slowDecodeEvent is the reference: encoding/json with Data as raw JSON.
func slowDecodeEvent(b []byte) (Event, error) {
	var raw struct {
		Event
		Data json.RawMessage `json:"data,omitempty"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Event{}, err
	}
	ev := raw.Event
	if len(raw.Data) > 0 {
		ev.Data = raw.Data
	}
	return ev, nil
}

// TestDecodeEventMatchesJSON checks that the fast event decoder returns
// exactly what encoding/json does for every event the store writes, and
// that the layouts it does not know go to encoding/json.
func TestDecodeEventMatchesJSON(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.FixedZone("x", -3*3600))
	tk := &ticket.Ticket{ID: 7, Subject: `quote " and \ backslash`, Status: ticket.StatusNew, Tags: []string{}}
	tkJSON, _ := json.Marshal(tk)
	cases := []struct {
		name string
		ev   *Event
		raw  string // instead of ev: stored bytes
		fast bool   // the fast path takes it
	}{
		{name: "ticket created", ev: &Event{Seq: 1, Type: EventTicketCreated, TicketID: 7, ActorID: 3, At: at, Data: json.RawMessage(tkJSON)}, fast: true},
		{name: "object data", ev: &Event{Seq: 1 << 40, Type: EventUserMerged, UserID: 9, At: at.UTC(), Data: map[string]uint64{"source_id": 1, "target_id": 2}}, fast: true},
		{name: "no data", ev: &Event{Seq: 2, Type: "custom.thing", At: at}, fast: true},
		{name: "every id", ev: &Event{Seq: 3, Type: EventCommentCreated, TicketID: 1, CommentID: 2, UserID: 3, ActorID: 4, At: at, Data: json.RawMessage(`{"a":[1,2,{"b":"}"}]}`)}, fast: true},
		{name: "type with escapes", ev: &Event{Seq: 4, Type: `a<b>"c"`, At: at}, fast: false},
		{name: "encoding/json layout", raw: `{"seq":5,"type":"ticket.updated","ticket_id":1,"at":"2026-03-01T09:00:00Z","data":{"id":1}}`, fast: true},
		{name: "spaces", raw: `{ "seq": 6, "type": "x", "at": "2026-03-01T09:00:00Z" }`, fast: false},
		{name: "fields out of order", raw: `{"type":"x","seq":7,"at":"2026-03-01T09:00:00Z"}`, fast: false},
		{name: "leading zero", raw: `{"seq":08,"type":"x","at":"2026-03-01T09:00:00Z"}`, fast: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.raw)
			if tc.ev != nil {
				var err error
				if b, err = encodeEvent(tc.ev); err != nil {
					t.Fatal(err)
				}
			}
			_, fast := decodeEventFast(b)
			if fast != tc.fast {
				t.Errorf("fast path taken: %v, want %v", fast, tc.fast)
			}
			want, wantErr := slowDecodeEvent(b)
			got, err := decodeEvent(b)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("decodeEvent error %v, encoding/json error %v", err, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decodeEvent\n%#v\nencoding/json\n%#v", got, want)
			}
		})
	}
}

// FuzzDecodeEvent checks that whenever the fast decoder accepts valid JSON
// it agrees with encoding/json.
func FuzzDecodeEvent(f *testing.F) {
	for _, ev := range []*Event{
		{Seq: 1, Type: EventTicketCreated, TicketID: 7, At: time.Unix(1, 5).UTC(), Data: json.RawMessage(`{"id":7}`)},
		{Seq: 2, Type: "x", At: time.Unix(0, 0)},
	} {
		b, _ := encodeEvent(ev)
		f.Add(b)
	}
	f.Add([]byte(`{"seq":1,"type":"x","at":"2026-03-01T09:00:00Z","data":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodeEventFast(b)
		if !ok || !json.Valid(b) {
			return
		}
		want, err := slowDecodeEvent(b)
		if err != nil {
			return // e.g. a time encoding/json rejects in a field it reads
		}
		if gd, ok := got.Data.(json.RawMessage); ok {
			if wd, ok := want.Data.(json.RawMessage); ok && bytes.Equal(bytes.TrimSpace(gd), wd) {
				got.Data, want.Data = nil, nil
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fast\n%#v\nencoding/json\n%#v", got, want)
		}
	})
}
