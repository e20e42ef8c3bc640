# sealgate — the index of tasks. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BIN        := $(CURDIR)/bin
SEALGATE   := $(BIN)/sealgate
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -s -w -X github.com/sealgate/sealgate/pkg/cli.Version=$(VERSION)
FUZZTIME   ?= 20s
export KUBEBUILDER_ASSETS := $(BIN)

##@ Everyday

.PHONY: help
help: ## List the tasks.
	@awk 'BEGIN {FS = ":.*##"} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^[a-zA-Z0-9_-]+:.*##/ {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/sealgate.
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(SEALGATE) ./cmd/sealgate

# demo and dev-cluster build hack/devcluster rather than `go run` it: go run exits 1 after a Ctrl-C.
.PHONY: demo
demo: build ## Start a local kube-apiserver + etcd, run sealgate as its webhook, kubectl apply the examples.
	@hack/tools.sh kube-apiserver kubectl etcd
	@go build -o $(BIN)/devcluster ./hack/devcluster
	@$(BIN)/devcluster --mode demo --sealgate $(SEALGATE)

.PHONY: dev-cluster
dev-cluster: build ## Run kube-apiserver, etcd and sealgate with the example policies locally until Ctrl-C.
	@hack/tools.sh kube-apiserver kubectl etcd
	@go build -o $(BIN)/devcluster ./hack/devcluster
	@$(BIN)/devcluster --mode dev --sealgate $(SEALGATE)

.PHONY: test
test: tools-test verify test-unit test-examples test-integration test-e2e test-signatures test-helm test-faults ## Build and pass every test tier (what CI runs).

##@ Tests

# The tiers that need tools carry a build tag each, so that `go test ./...` on a fresh clone runs the
# unit tier only; these targets install the tools and pass the tag.
TIER_TAGS := integration,e2e,signatures,helm,faults

# Every tool a test tier runs, installed (or found cached) before any test starts.
TEST_TOOLS := controller-gen kube-apiserver kubectl etcd cosign crane helm

.PHONY: tools-test
tools-test:
	@hack/tools.sh $(TEST_TOOLS)

.PHONY: test-unit
test-unit: ## Unit tests with the race detector: rules, engine, decoders, CLI, webhook server on loopback (= go test ./...).
	go test -race -count=1 ./pkg/... ./cmd/... ./hack/... ./internal/...
	@echo "allocation bounds of the rules (without -race, which makes sync.Pool drop items at random)"
	go test -count=1 -run 'Allocat' ./pkg/rules/

.PHONY: test-examples
test-examples: ## The examples' policy test suite: sealgate test examples (examples/sealgate-test.yaml), offline.
	go run ./cmd/sealgate test examples

.PHONY: test-integration
test-integration: tools-test ## Integration tests against a real kube-apiserver and etcd (certificates, lookup failures).
	go test -tags integration -count=1 ./test/integration/...

.PHONY: test-e2e
test-e2e: tools-test ## End-to-end: the real sealgate binary as the webhook of a real API server, driven with kubectl.
	go test -tags e2e -count=1 ./test/e2e/...

.PHONY: test-signatures
test-signatures: tools-test ## Signatures made by the real cosign CLI, on a real OCI registry served over TLS on loopback.
	go test -tags signatures -count=1 ./test/signatures/...

.PHONY: test-helm
test-helm: tools-test ## The Helm chart: lint, golden renders, values schema, webhook parity, install/upgrade/uninstall on a real API server.
	go test -tags helm -count=1 ./test/helm/...

.PHONY: test-faults
test-faults: tools-test ## Fault suite: huge pods, held bodies, killed replicas, rolling restarts, control-plane and certificate restarts under load (docs/reliability.md).
	@echo "fault suite: real API server, etcd and sealgate replicas under load; about 2-4 minutes"
	go test -tags faults -count=1 -timeout 20m ./test/faults/...

.PHONY: verify
verify: generate ## gofmt, go vet, and generated files up to date.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./pkg/... ./cmd/... ./hack/... ./internal/... ./test/...
	go vet -tags $(TIER_TAGS) ./test/...
	@if [ -n "$$(git status --porcelain -- config/crd pkg/apis charts/sealgate/crds $(REPORT_CRDS_DIR))" ]; then \
		echo "generated files are out of date; run 'make generate' and commit:"; git status --short -- config/crd pkg/apis charts/sealgate/crds $(REPORT_CRDS_DIR); exit 1; fi

.PHONY: fuzz
fuzz: ## Short fuzz runs of every decoder of untrusted input (FUZZTIME=20s each).
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/imageref/
	go test -run '^$$' -fuzz '^FuzzDecodeReview$$' -fuzztime $(FUZZTIME) ./pkg/admission/
	go test -run '^$$' -fuzz '^FuzzWorkloadDecode$$' -fuzztime $(FUZZTIME) ./pkg/workload/
	go test -run '^$$' -fuzz '^FuzzDecodeMatchesAPIMachinery$$' -fuzztime $(FUZZTIME) ./pkg/workload/
	go test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./pkg/manifest/

.PHONY: bench
bench: ## Benchmarks; writes docs/performance.md with the machine and date.
	hack/bench.sh

# Not part of `make test`: it takes minutes and measures, it does not pass or fail on a figure.
# BENCH_AUDIT_FLAGS passes sizes and the like, e.g. BENCH_AUDIT_FLAGS='--pods 2000 --out ""'.
.PHONY: bench-audit
bench-audit: build ## Audit at scale: 10,000 pods on a local API server, CLI and background audit; writes its part of docs/performance.md.
	@hack/tools.sh kube-apiserver kubectl etcd
	@go build -o $(BIN)/benchaudit ./hack/benchaudit
	$(BIN)/benchaudit --sealgate $(SEALGATE) $(BENCH_AUDIT_FLAGS)

# Not part of `make test` either. The peers are built from Go modules at pinned versions: the upstream
# PSA webhook by hack/tools.sh (cached like the other tools), the Rego peer in its own module
# (hack/benche2e/rego, so that go.mod does not gain OPA), the floor from this module.
# BENCH_E2E_FLAGS passes rounds and the like, e.g. BENCH_E2E_FLAGS='-rounds 2 -duration 3s'.
# BENCH_E2E_BASELINE=REV also runs sealgate as built at git revision REV, alternating with this one.
.PHONY: bench-e2e
bench-e2e: build ## Side by side over HTTPS (floor, PSA webhook, OPA) and through a local API server; writes its part of docs/performance.md.
	@hack/tools.sh kube-apiserver kubectl etcd pod-security-webhook
	go build -o $(BIN)/benche2e-floor ./hack/benche2e/floor
	cd hack/benche2e/rego && GOWORK=off CGO_ENABLED=0 go build -trimpath -o $(BIN)/benche2e-rego .
	go build -o $(BIN)/benche2e ./hack/benche2e
ifdef BENCH_E2E_BASELINE
	hack/build-at.sh $(BENCH_E2E_BASELINE) $(BIN)/sealgate-baseline
	$(BIN)/benche2e -bin $(BIN) -baseline $(BIN)/sealgate-baseline $(BENCH_E2E_FLAGS)
else
	$(BIN)/benche2e -bin $(BIN) $(BENCH_E2E_FLAGS)
endif

# Not part of `make test` either: the signature path against a loopback TLS registry, with the real
# cosign CLI as the reference. BENCH_SIG_FLAGS passes sizes, e.g. BENCH_SIG_FLAGS='-images 20 -samples 10'.
.PHONY: bench-signatures
bench-signatures: ## Cold signature verification in both formats, 100 signed images admitted concurrently, against cosign verify; writes its part of docs/performance.md.
	@hack/tools.sh cosign
	go build -o $(BIN)/benchsig ./hack/benchsig
	$(BIN)/benchsig -bin $(BIN) $(BENCH_SIG_FLAGS)

# CEL cost units are deterministic, so this one needs no quiet machine and no cluster.
.PHONY: bench-vap
bench-vap: ## What the generated ValidatingAdmissionPolicies cost the API server in CEL units; writes its part of docs/performance.md.
	hack/bench-vap.sh

##@ Code generation and tools

# The report CRDs sealgate writes: openreports.io comes from the module that defines its Go types, at
# the version go.mod pins; wgpolicyk8s.io is generated from pkg/apis/wgpolicyk8s. The chart installs
# them from templates (charts/sealgate/files/report-crds), not crds/, so that it can skip a CRD another
# tool already installed.
REPORT_CRDS_DIR := charts/sealgate/files/report-crds

.PHONY: generate
generate: tools-generate ## Regenerate deepcopy and the CRDs (config/crd, the chart's crds/ and report CRDs) with controller-gen, and the chart's values schema from the CRD.
	$(BIN)/controller-gen object paths=./pkg/apis/...
	$(BIN)/controller-gen crd:crdVersions=v1 output:crd:artifacts:config=config/crd/bases paths=./pkg/apis/...
	@go mod download github.com/openreports/reports-api && \
		openreports=$$(go list -m -f '{{.Dir}}' github.com/openreports/reports-api) && \
		install -m 0644 $$openreports/config/crd/openreports.io_reports.yaml $$openreports/config/crd/openreports.io_clusterreports.yaml config/crd/bases/
	cp config/crd/bases/sealgate.dev_*.yaml charts/sealgate/crds/
	@mkdir -p $(REPORT_CRDS_DIR)
	cp config/crd/bases/openreports.io_*.yaml config/crd/bases/wgpolicyk8s.io_*.yaml $(REPORT_CRDS_DIR)/
	@echo "values.schema.json: the policy schema from the CRD"
	go test -tags helm -count=1 ./test/helm -run 'TestValuesSchemaPolicyFromCRD$$' -update >/dev/null

.PHONY: tools-generate
tools-generate:
	@hack/tools.sh controller-gen

.PHONY: tools
tools: ## Build or install every external tool into ./bin (cached by version).
	hack/tools.sh all

.PHONY: clean
clean: ## Remove build outputs (the tool cache in ~/.cache/sealgate stays).
	rm -rf $(BIN)
