package search

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// benchFixture fills a store with n tickets of three comments each (words
// drawn from a Zipf distribution over a made-up vocabulary) and indexes
// them. patchbay-bench's search mode does the same at a million tickets
// over HTTP; this one measures the index alone, in process.
func benchFixture(b *testing.B, n int) (*env, []string) {
	b.Helper()
	e := newEnv(b)
	vocab := make([]string, 5000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("w%dq%c", i, 'a'+i%26)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 2, uint64(len(vocab)-1))
	text := func(words int) string {
		var sb strings.Builder
		for i := range words {
			if i > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(vocab[zipf.Uint64()])
		}
		return sb.String()
	}
	u := e.user("Ann Example", "ann@example.test", ticket.RoleEndUser)
	statuses := []ticket.Status{ticket.StatusNew, ticket.StatusOpen, ticket.StatusOpen, ticket.StatusPending, ticket.StatusSolved}
	for from := 0; from < n; from += 200 {
		e.update(func(tx *store.Tx) error {
			for i := from; i < min(from+200, n); i++ {
				t := &ticket.Ticket{Subject: text(6), Status: statuses[i%len(statuses)], Via: "email", Channel: "support", RequesterID: u, Tags: []string{fmt.Sprintf("tag%d", i%10)}}
				if err := tx.CreateTicket(t); err != nil {
					return err
				}
				for c := range 3 {
					if err := tx.CreateComment(&ticket.Comment{TicketID: t.ID, AuthorID: u, Body: text(25), Public: c != 2, Via: "email"}, store.CommentOptions{}); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	e.catchUp()
	return e, vocab
}

// BenchmarkSearch reports the latency of the query kinds the targets name
// (two words; field terms only) on 5,000 indexed tickets, with p99.
func BenchmarkSearch(b *testing.B) {
	e, vocab := benchFixture(b, 5000)
	rng := rand.New(rand.NewPCG(3, 4))
	word := func() string { return vocab[10+rng.IntN(500)] }
	fields := []string{"status:open", "status<solved", "tag:tag3", "status:pending tag:tag1", "assignee:none", "updated>7d"}
	for _, k := range []struct {
		name string
		q    func(i int) string
	}{
		{"two-words", func(int) string { return word() + " " + word() }},
		{"field-only", func(i int) string { return fields[i%len(fields)] }},
		{"word-and-fields", func(i int) string { return word() + " " + fields[i%len(fields)] }},
		{"phrase", func(int) string { return `"` + word() + " " + word() + `"` }},
	} {
		b.Run(k.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			i := 0
			for b.Loop() {
				q := k.q(i)
				i++
				t0 := time.Now()
				if _, err := e.x.Search(context.Background(), Request{Query: q, Limit: 25}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[min(len(lat)*99/100, len(lat)-1)].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkIndexComment measures one comment's way from commit to
// searchable: the commit, the follower's batch, and a search that finds it.
func BenchmarkIndexComment(b *testing.B) {
	e, _ := benchFixture(b, 500)
	i := 0
	for b.Loop() {
		word := fmt.Sprintf("fresh%dz", i)
		e.comment(uint64(1+i%500), 1, "new text "+word, true)
		e.catchUp()
		if got := e.search(word, 0); len(got) != 1 {
			b.Fatalf("search %s: %v", word, got)
		}
		i++
	}
}

// BenchmarkRebuild reports the rate of a full rebuild (tickets/s).
func BenchmarkRebuild(b *testing.B) {
	e, _ := benchFixture(b, 2000)
	e.closeIndex()
	for b.Loop() {
		t0 := time.Now()
		n, err := Rebuild(context.Background(), e.st, Options{Dir: e.indexDir()})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n)/time.Since(t0).Seconds(), "tickets/s")
	}
}
