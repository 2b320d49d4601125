# Termflow — see README.md.
SHELL := /bin/bash
MODULES := pkg services/ingest services/indexer services/persister tools cli bench
GO ?= go

.PHONY: run test unit integration vet build infra-up infra-down bench bench-micro soak fuzz clean

## run: the whole pipeline on embedded defaults (kfake + embedded FerretDB), sample corpus loaded
run: build
	scripts/run.sh

## build: the service binaries into bin/
build:
	@mkdir -p bin
	$(GO) build -o bin/termflow-ingest ./services/ingest
	$(GO) build -o bin/termflow-indexer ./services/indexer
	$(GO) build -o bin/termflow-persister ./services/persister
	$(GO) build -o bin/termflow-kfake ./tools/cmd/kfake-server
	$(GO) build -o bin/godoc-corpus ./tools/cmd/godoc-corpus
	$(GO) build -o bin/termflowctl ./cli
	scripts/ferretdb.sh build

## test: vet, then every test (unit and integration, -race) against a real Kafka broker and FerretDB.
## The integration run includes the unit tests (same packages), so they are not run twice;
## `make unit` runs them alone, without infrastructure.
test: vet integration

vet:
	@for m in $(MODULES); do echo "go vet $$m"; (cd $$m && $(GO) vet ./... && $(GO) vet -tags integration ./...) || exit 1; done

unit:
	@for m in $(MODULES); do echo "go test -race $$m"; (cd $$m && $(GO) test -race -count=1 ./...) || exit 1; done

# Integration tests start the real infrastructure and always stop it again.
# A broker or FerretDB that cannot start fails the run with the reason.
integration:
	@set -e; trap 'scripts/infra-down.sh' EXIT; scripts/infra-up.sh; scripts/apt-lists.sh; scripts/prometheus.sh ensure; source .infra/env; \
	export TERMFLOW_TEST_KAFKA_BROKERS=$$KAFKA_BROKERS TERMFLOW_TEST_MONGO_URI=$$MONGO_URI; \
	for m in $(MODULES); do echo "go test -tags integration $$m"; (cd $$m && $(GO) test -tags integration -race -count=1 -timeout 15m ./...) || exit 1; done; \
	echo "go test tools/ferretdb (its own module, outside go.work)"; ov=$$(scripts/ferretdb.sh overlay) && (cd tools/ferretdb && GOWORK=off $(GO) vet -mod=vendor -overlay $$ov ./... && GOWORK=off $(GO) test -mod=vendor -overlay $$ov -count=1 ./...)

## soak: every fault scenario with many seeds (SOAK_SEEDS, default 1..13: 104 runs);
## the results table goes into docs/reliability.md, the raw runs into bench/results/
SOAK_SEEDS ?= 1..13
SOAK_DOCS ?= 1200
soak:
	@set -eo pipefail; trap 'scripts/infra-down.sh' EXIT; scripts/infra-up.sh; source .infra/env; \
	mkdir -p bench/results; out=$$PWD/bench/results/soak-$$(date -u +%Y%m%dT%H%M%SZ).jsonl; \
	export TERMFLOW_TEST_KAFKA_BROKERS=$$KAFKA_BROKERS TERMFLOW_TEST_MONGO_URI=$$MONGO_URI \
	  TERMFLOW_FAULT_SEEDS=$(SOAK_SEEDS) TERMFLOW_FAULT_DOCS=$(SOAK_DOCS) TERMFLOW_FAULT_RESULTS=$$out; \
	rc=0; (cd tools && $(GO) test -tags integration -count=1 -timeout 600m -run '^TestFault' -v ./e2e/ 2>&1 | tee $${out%.jsonl}.log | grep -E '^(=== RUN|--- |\s+--- |ok|FAIL)|result:') || rc=$$?; \
	(cd tools && $(GO) run ./cmd/soak-report -results $$out -doc ../docs/reliability.md -command "make soak SOAK_SEEDS=$(SOAK_SEEDS) SOAK_DOCS=$(SOAK_DOCS)"); \
	echo "soak: results in $$out, table in docs/reliability.md"; exit $$rc

infra-up:
	scripts/infra-up.sh

infra-down:
	scripts/infra-down.sh

## bench: the end-to-end benchmark (issue 4): each stage's limit, Bleve in-process, and Termflow
## through its three services, the real broker and FerretDB, on the godoc, Debian and synthetic
## corpora. JSON and a plot go to bench/results/, a section is appended to docs/benchmarks.md.
## BENCH_ARGS passes flags, e.g. BENCH_ARGS='-real godoc -sizes 1000,10000' for a short run.
BENCH_ARGS ?=
bench: build
	@set -eo pipefail; trap 'scripts/infra-down.sh' EXIT; scripts/infra-up.sh; source .infra/env; \
	scripts/bench.sh $(BENCH_ARGS)

## bench-micro: hot-path micro-benchmarks (analysis, posting lists, dirty-terms events,
## indexBatch); save runs and compare them with benchstat
## (IndexCommit commits into a store that grows with every iteration, so it runs a fixed count;
## the *Corpus benchmarks read the godoc corpus, written to bench/tmp first)
bench-micro: export TERMFLOW_BENCH_CORPUS = $(CURDIR)/bench/tmp/godoc.ndjson
bench-micro:
	mkdir -p bench/tmp && $(GO) run ./tools/cmd/godoc-corpus -o bench/tmp/godoc.ndjson
	cd pkg && $(GO) test -run '^$$' -bench . -benchmem ./...
	cd services/indexer && $(GO) test -run '^$$' -bench IndexBatch -benchmem ./... && \
	  $(GO) test -run '^$$' -bench IndexCommit -benchtime 40x -benchmem ./...
	cd services/ingest && $(GO) test -run '^$$' -bench . -benchmem ./...

## fuzz: every fuzz target for FUZZTIME each (make test runs only their checked-in seeds,
## testdata/fuzz/<target>); a crasher is written there and becomes a regression seed
FUZZTIME ?= 60s
FUZZ_TARGETS := pkg:./analysis:FuzzTokens pkg:./analysis:FuzzASCIITokens pkg:./analysis:FuzzAnalyzeJSON pkg:./analysis:FuzzParseQuery \
	pkg:./document:FuzzDecode pkg:./document:FuzzDecodeScanAgrees pkg:./jsonscan:FuzzTokens \
	pkg:./dirtyterms:FuzzDecode pkg:./dirtyterms:FuzzRoundTrip \
	services/ingest:./internal/api:FuzzParseBulk services/ingest:./internal/api:FuzzScanObject
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do IFS=: read -r m p f <<<"$$t"; echo "fuzz $$m $$p $$f ($(FUZZTIME))"; \
	  (cd $$m && $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$p); done

clean:
	rm -rf bin .infra
