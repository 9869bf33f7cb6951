# Patchbay — see README.md. Targets:
#   make build   bin/patchbay and bin/plugins/patchbay-plugin-<kind> for every plugins/<kind>/
#   make test    build, vet, gofmt check, staticcheck, go test ./..., every Fuzz target for $(FUZZ_SMOKE)
#   make lint    staticcheck (pinned, run with go run; no install needed)
#   make run     build and serve config/patchbay.hcl with a development admin token
#   make fuzz    every Fuzz target for $(FUZZTIME)
#   make bench   all Go benchmarks, then patchbay-bench (load generator; docs/performance.md)
#   make crashtest  the kill -9 crash suite for $(CRASH_CYCLES) cycles
#   make proto   regenerate proto/channel/v1 (pinned pure-Go generator)

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
CONFIG   ?= config/patchbay.hcl
FUZZTIME ?= 30s
FUZZ_SMOKE ?= 3s
BENCHTIME ?= 1s
TEST_TIMEOUT ?= 8m
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
CRASH_CYCLES ?= 200
# Extra patchbay-bench flags, e.g. BENCH_FLAGS="-tickets 100000 -duration 5s".
BENCH_FLAGS ?=

# The development admin token `make run` registers (never use it in production).
# It is shorter than the 32 characters `patchbay serve` demands, so `make run`
# passes -dev, which accepts it.
PATCHBAY_ADMIN_TOKEN ?= dev-admin-token

.PHONY: all build test vet fmt-check lint unit fuzz-smoke fuzz bench crashtest proto run clean

all: build

build:
	@mkdir -p bin/plugins
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/patchbay ./core/cmd/patchbay
	@for dir in plugins/*/; do \
		[ -d "$$dir" ] || continue; \
		kind=$$(basename "$$dir"); \
		echo "$(GO) build -o bin/plugins/patchbay-plugin-$$kind ./$$dir"; \
		$(GO) build -ldflags "$(LDFLAGS)" -o "bin/plugins/patchbay-plugin-$$kind" "./$$dir" || exit 1; \
	done

test: build vet fmt-check lint unit fuzz-smoke

vet:
	$(GO) vet ./...

fmt-check:
	@unformatted=$$(find . -name '*.go' -not -path './bin/*' -not -path './.git/*' | xargs gofmt -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

lint:
	$(GO) run $(STATICCHECK) ./...

# The end-to-end packages use the binaries `build` just made (internal/e2etest.BinEnv).
unit: build
	PATCHBAY_E2E_BIN=$(CURDIR)/bin $(GO) test -timeout $(TEST_TIMEOUT) ./...

fuzz-smoke:
	scripts/fuzz.sh $(FUZZ_SMOKE)

fuzz:
	scripts/fuzz.sh $(FUZZTIME)

bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...
	$(GO) run ./core/cmd/patchbay-bench -bin bin -out bin/bench-results $(BENCH_FLAGS)

crashtest:
	$(GO) test -count=1 -timeout 90m -run '^TestCrashKill9$$' ./e2e -crash.cycles=$(CRASH_CYCLES)

proto:
	$(GO) run ./internal/cmd/protogen

run: build
	@mkdir -p data
	@echo "Patchbay: serving $(CONFIG); development admin token: PATCHBAY_ADMIN_TOKEN=$(PATCHBAY_ADMIN_TOKEN)"
	PATCHBAY_ADMIN_TOKEN='$(PATCHBAY_ADMIN_TOKEN)' bin/patchbay serve -dev -config $(CONFIG)

clean:
	rm -rf bin
