# Outrider — one entry point for building, testing, benchmarking and the demo.
GO      ?= go
BIN     ?= bin
PKGS    ?= ./...
TESTFLAGS ?= -timeout 25m

.PHONY: all build test deps lint unit bench demo clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# deps installs what the tests need (system packages, test binaries). Safe to re-run.
deps:
	./scripts/deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

unit:
	$(GO) test $(TESTFLAGS) $(PKGS)

# test is the command the README and CI run: dependencies, lint, every test.
test: deps lint unit

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# demo runs two local pods (network namespaces) with sidecars; needs root.
demo: build
	$(BIN)/outrider demo $(DEMO_ARGS)

clean:
	rm -rf $(BIN)
