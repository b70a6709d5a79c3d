# apistream: common tasks. `make help` lists them.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/apistream/apistream.Version=$(VERSION)

.PHONY: help run build test bench lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

run: ## run the server on the embedded default, with the demo API and jobs
	go run -ldflags "$(LDFLAGS)" ./cmd/apistream serve --demo

build: ## build bin/apistream
	go build -ldflags "$(LDFLAGS)" -o bin/apistream ./cmd/apistream

test: lint ## run every test, with the race detector
	go test -race ./...

bench: ## run the benchmarks
	go test -run '^$$' -bench . -benchmem ./...

lint: ## gofmt and go vet
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...

clean: ## remove build output and the data directories the README uses
	rm -rf bin apistream-data apistream-jwt
