package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestNoteConversationInbound(t *testing.T) {
	s := openTest(t)
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		instance   string
		conv       string
		at         time.Time
		wantErr    error
		wantRecord time.Time // of wa/15550001 afterwards
	}{
		{"first", "wa", "15550001", at, nil, at},
		{"newer moves it", "wa", "15550001", at.Add(time.Minute), nil, at.Add(time.Minute)},
		{"older leaves it", "wa", "15550001", at.Add(-time.Hour), nil, at.Add(time.Minute)},
		{"other conversation", "wa", "15550002", at.Add(time.Hour), nil, at.Add(time.Minute)},
		{"NUL in the key", "wa", "1555\x000001", at.Add(time.Hour), ErrInvalid, at.Add(time.Minute)},
		{"no instance", "", "15550001", at.Add(time.Hour), ErrInvalid, at.Add(time.Minute)},
		{"zero time", "wa", "15550001", time.Time{}, ErrInvalid, at.Add(time.Minute)},
	}
	for _, tt := range tests {
		err := s.Update(context.Background(), func(tx *Tx) error {
			return tx.NoteConversationInbound(tt.instance, tt.conv, tt.at)
		})
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Fatalf("%s: error %v, want %v", tt.name, err, tt.wantErr)
		}
		var got time.Time
		if err := s.View(func(r *ReadTx) error {
			var err error
			got, err = r.ConversationLastInbound("wa", "15550001")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if !got.Equal(tt.wantRecord) {
			t.Fatalf("%s: record %v, want %v", tt.name, got, tt.wantRecord)
		}
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCheckFindsBadConversationRecord(t *testing.T) {
	s := openTest(t)
	if err := s.Update(context.Background(), func(tx *Tx) error {
		tx.set(convInKey("wa", "15550001"), []byte("x"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background()); err == nil {
		t.Fatal("Check accepted a conversation record that is not a time")
	}
}
