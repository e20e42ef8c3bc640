# sealgate — the index of tasks. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BIN        := $(CURDIR)/bin
SEALGATE   := $(BIN)/sealgate
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -s -w -X github.com/sealgate/sealgate/pkg/cli.Version=$(VERSION)
GO_PKGS    := ./...
FUZZTIME   ?= 20s
export KUBEBUILDER_ASSETS := $(BIN)

##@ Everyday

.PHONY: help
help: ## List the tasks.
	@awk 'BEGIN {FS = ":.*##"} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^[a-zA-Z_-]+:.*##/ {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/sealgate.
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(SEALGATE) ./cmd/sealgate

.PHONY: demo
demo: build ## Show sealgate's verdicts on the example workloads under the example policies.
	@hack/demo.sh

.PHONY: test
test: verify test-unit ## Build and pass every test tier (what CI runs).

##@ Tests

.PHONY: test-unit
test-unit: ## Unit tests with the race detector: rules, engine, decoders, CLI, webhook server on loopback.
	go test -race -count=1 $(GO_PKGS)

.PHONY: verify
verify: generate ## gofmt, go vet, and generated files up to date.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet $(GO_PKGS)
	@if [ -n "$$(git status --porcelain -- config/crd pkg/apis)" ]; then \
		echo "generated files are out of date; run 'make generate' and commit:"; git status --short -- config/crd pkg/apis; exit 1; fi

.PHONY: fuzz
fuzz: ## Short fuzz runs of every decoder of untrusted input (FUZZTIME=20s each).
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/imageref/
	go test -run '^$$' -fuzz '^FuzzDecodeReview$$' -fuzztime $(FUZZTIME) ./pkg/admission/
	go test -run '^$$' -fuzz '^FuzzWorkloadDecode$$' -fuzztime $(FUZZTIME) ./pkg/workload/

.PHONY: bench
bench: ## Benchmarks; writes docs/performance.md with the machine and date.
	hack/bench.sh

##@ Code generation and tools

.PHONY: generate
generate: tools-generate ## Regenerate deepcopy and the CRD (config/crd) with controller-gen.
	$(BIN)/controller-gen object paths=./pkg/apis/...
	$(BIN)/controller-gen crd:crdVersions=v1 output:crd:artifacts:config=config/crd/bases paths=./pkg/apis/...

.PHONY: tools-generate
tools-generate:
	@hack/tools.sh controller-gen

.PHONY: tools
tools: ## Build or install every external tool into ./bin (cached by version).
	hack/tools.sh all

.PHONY: clean
clean: ## Remove build outputs (the tool cache in ~/.cache/sealgate stays).
	rm -rf $(BIN)
