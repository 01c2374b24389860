# Outrider — one entry point for building, testing, benchmarking and the demo.
GO      ?= go
BIN     ?= bin
PKGS    ?= ./...
TESTFLAGS ?= -timeout 25m

.PHONY: all build test deps lint unit benchcheck bench bench-quick demo clean

all: build

# Static executables (no cgo: Go's own DNS resolver and user lookup), as a
# container image wants them; a static proxy also maps no libc (−1.4 MB RSS).
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...

# deps installs what the tests need (system packages, test binaries). Safe to re-run.
deps:
	./scripts/deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

unit:
	$(GO) test $(TESTFLAGS) $(PKGS)

# benchcheck runs every Go micro-benchmark once, so they keep compiling and running.
benchcheck:
	$(GO) test -run '^$$' -bench . -benchtime=1x ./proxy/...

# test is the command the README and CI run: dependencies, lint, every test.
test: deps lint unit benchcheck

# bench compares one Outrider hop with direct, HAProxy and nginx (and, as root, the
# sidecar pair with plain pods), then runs the Go micro-benchmarks. See docs/benchmarks.md.
bench: build
	./scripts/bench-deps.sh
	$(GO) run ./bench --proxy $(BIN)/outrider-proxy $(BENCHFLAGS)
	$(GO) test -run '^$$' -bench . -benchmem ./proxy/...

bench-quick: build
	./scripts/bench-deps.sh
	$(GO) run ./bench --quick --proxy $(BIN)/outrider-proxy --out ""

# demo runs two local pods (network namespaces) with sidecars; needs root.
demo: build
	$(BIN)/outrider demo $(DEMO_ARGS)

clean:
	rm -rf $(BIN)
