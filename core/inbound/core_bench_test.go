package inbound

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/rules"
	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/sdk"
)

// benchConversations is how many WhatsApp senders the core benchmark
// spreads its messages over (patchbay-bench's default).
const benchConversations = 1000

// waMessage is a message shaped like the WhatsApp plugin's: a phone-number
// identity, the provider metadata and the raw message JSON.
func waMessage(id string, conv int) *sdk.InboundMessage {
	phone := fmt.Sprintf("1555%07d", conv)
	return &sdk.InboundMessage{
		ExternalID:      id,
		ConversationKey: phone,
		Author:          sdk.Party{ExternalID: phone, IdentityType: "whatsapp", Name: "Customer " + phone, Phone: "+" + phone},
		Text:            "Hello, my order has not arrived yet; could you check where it is?",
		SentAt:          time.Now().UTC().Truncate(time.Second),
		Raw:             []byte(`{"from":"` + phone + `","id":"` + id + `","timestamp":"1763780000","type":"text","text":{"body":"Hello, my order has not arrived yet; could you check where it is?"}}`),
		RawContentType:  "application/json",
		Metadata:        map[string]string{"phone_number_id": "106540352242922", "message_type": "text", "display_phone_number": "15550783881", "wa_id": phone},
	}
}

// BenchmarkDeliverCore measures the core's whole cost per inbound message
// behind Host.Deliver, as `patchbay serve` runs it: 64 concurrent
// deliveries over 1,000 existing WhatsApp conversations into a real Badger
// (synced group commits), with the rules engine following the event log
// (seeded automation, no triggers: the product's default) until it has
// processed every event. cpu-µs/msg is the process's CPU per message, the
// figure a loaded machine distorts least.
func BenchmarkDeliverCore(b *testing.B) {
	const senders = 64
	st, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc := New(st, []Instance{{Name: "wa", Kind: "whatsapp"}}, Options{})
	eng := rules.New(st, rules.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = eng.Run(ctx)
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()
	// Every conversation exists: the steady state of a busy gateway.
	warm := make(chan int)
	var wwg sync.WaitGroup
	for range senders {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			for c := range warm {
				if _, err := svc.Deliver(ctx, "wa", waMessage(fmt.Sprintf("warm-%d", c), c), nil); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for c := range benchConversations {
		warm <- c
	}
	close(warm)
	wwg.Wait()
	waitRules(b, st, eng)

	var next atomic.Int64
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	var swg sync.WaitGroup
	for range senders {
		swg.Add(1)
		go func() {
			defer swg.Done()
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				m := waMessage(fmt.Sprintf("wamid.%d", n), int(n*7919%benchConversations))
				if _, err := svc.Deliver(ctx, "wa", m, nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	swg.Wait()
	waitRules(b, st, eng)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
}

// waitRules waits until the rules engine has processed every event.
func waitRules(b *testing.B, st *store.Store, eng *rules.Engine) {
	b.Helper()
	var last uint64
	if err := st.View(func(r *store.ReadTx) error {
		var err error
		last, err = r.LastID(store.SeqEvent)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		c, err := eng.Cursor()
		if err != nil {
			b.Fatal(err)
		}
		if c >= last {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("rules engine at event %d of %d after 5 minutes", c, last)
		}
		time.Sleep(time.Millisecond)
	}
}
