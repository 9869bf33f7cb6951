package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/internal/bench"
)

// baselineInstance is the state namespace the baseline writes under.
const baselineInstance = "baseline"

// baselineServer is the bare baseline, run as a child process so that its
// CPU and memory are measured like the core's: an HTTP handler that checks
// the X-Hub-Signature-256 HMAC, extracts the message id, and writes the
// message with a synced write through core/store's group commit (the same
// writer, options and durability as the core), answering 200 once the
// commit returned. It prints "LISTEN <addr>" when ready.
func baselineServer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("baseline-server", flag.ContinueOnError)
	dir := fs.String("dir", "", "store directory")
	secret := fs.String("secret", "", "app secret (or BENCH_SECRET)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		*secret = os.Getenv("BENCH_SECRET")
	}
	st, err := store.Open(store.Options{Dir: *dir})
	if err != nil {
		return err
	}
	defer st.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if !bench.VerifyWhatsApp(*secret, body, r.Header.Get(bench.WhatsAppSignatureHeader)) {
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		id, _, err := bench.WhatsAppMessageID(body)
		if err != nil {
			http.Error(w, "malformed", http.StatusBadRequest)
			return
		}
		err = st.Update(r.Context(), func(tx *store.Tx) error {
			return tx.SetState(baselineInstance, id, body)
		})
		if err != nil {
			http.Error(w, "not stored", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "ok")
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// baselineProc is a running baseline child.
type baselineProc struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

func startBaseline(ctx context.Context, dir, secret string) (*baselineProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "baseline-server", "-dir", dir)
	cmd.Env = append(os.Environ(), "BENCH_SECRET="+secret)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &baselineProc{cmd: cmd, done: make(chan error, 1)}
	lines := bufio.NewScanner(out)
	got := make(chan string, 1)
	go func() {
		for lines.Scan() {
			if a, ok := strings.CutPrefix(lines.Text(), "LISTEN "); ok {
				got <- a
			}
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	select {
	case a := <-got:
		p.url = "http://" + a + "/hooks/wa"
		return p, nil
	case err := <-p.done:
		return nil, fmt.Errorf("baseline exited: %v", err)
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		return nil, errors.New("baseline did not start")
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return nil, ctx.Err()
	}
}

func (p *baselineProc) pid() int { return p.cmd.Process.Pid }

func (p *baselineProc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
