# vtepd: a user-space VXLAN/IPIP tunnel endpoint.
#
#   make build   bin/vtepd and bin/vtepctl
#   make test    lint, then every test under the race detector (as root: also
#                the network-namespace tests; without root they skip), and
#                the end-to-end tests again with one queue (GOMAXPROCS=1)
#   make demo    two namespaces, vtepd VXLAN between them, then the kernel's
#                vxlan in the same topology, side by side (root)
#   make bench   vtepd against the kernel path: TCP with 1, 4 and 8 flows, UDP
#                packet rate, latency, vtepd's CPU per GB and the Go
#                microbenchmarks, with iperf3 or, where it is missing, the
#                harness's own bench/cmd/vtepload; a Markdown
#                table on stdout, and results.md, results.json and chart.svg
#                in bench/results/ (root; BENCH_FLAGS="-runs 5" and so on,
#                see go run ./bench/cmd/vtepbench -h); with FRR installed,
#                also the EVPN scale run, evpn-scale.md and .json (30 vtepd
#                around an FRR route reflector; EVPN_FLAGS="-hosts 10")
#   make fuzz    every Fuzz target of every package, FUZZTIME each (default
#                30s: make fuzz FUZZTIME=2m); targets are found with
#                go test -list, failures are listed at the end
#   make soak    two namespaces, vtepd in each under a TCP stream and random
#                source MACs for SOAK_DURATION (default 60s); fails if a
#                daemon's goroutines, heap or RSS grew (root; SOAK_FLAGS,
#                see go run ./scripts/soak -h)
#   make labs    the container-networking course of scripts/labs/, every lab
#                in order (root; LABS="03 04" runs some)

GO          ?= go
BIN         := bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_FLAGS  ?= -race -count=1 -timeout 20m

.PHONY: all build test lint demo bench fuzz soak labs clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -buildvcs=auto -o $(BIN)/ ./cmd/vtepd ./cmd/vtepctl

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# The end-to-end tests run twice: with vtepd's default queues (one per CPU),
# then with one queue everywhere, since the default follows GOMAXPROCS.
test: lint
	$(GO) test $(TEST_FLAGS) ./...
	GOMAXPROCS=1 $(GO) test $(TEST_FLAGS) ./cmd/vtepd

demo: build
	scripts/demo.sh

BENCH_FLAGS ?=

bench: build
	$(GO) build -o $(BIN)/ ./bench/cmd/vtepload
	$(GO) run ./bench/cmd/vtepbench -vtepd $(BIN)/vtepd -vtepctl $(BIN)/vtepctl -vtepload $(BIN)/vtepload -go $(GO) -out bench/results $(BENCH_FLAGS)
	@if [ -x /usr/lib/frr/bgpd ]; then \
	  $(GO) run ./bench/cmd/evpnscale -vtepd $(BIN)/vtepd -out bench/results $(EVPN_FLAGS); \
	else echo "bench: no FRR (apt-get install frr): EVPN scale run skipped"; fi

FUZZTIME ?= 30s

# Each target runs on its own (go test -fuzz takes one target of one
# package); a failure is noted and the rest still run. A failure is a
# failing input written to testdata/fuzz/TARGET or a seed that fails. Go
# (up to 1.26) can also end a run with a bare "context deadline exceeded"
# when FUZZTIME runs out (go.dev/issue/75804), having found nothing: such a
# run is said so and not counted.
fuzz:
	@failed=; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for pkg in $$($(GO) list ./...); do \
	  targets=$$($(GO) test -list '^Fuzz' $$pkg) || { echo "$$targets"; exit 1; }; \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for fz in $$(echo "$$targets" | grep '^Fuzz'); do \
	    echo "== $$pkg $$fz ($(FUZZTIME))"; \
	    before=$$(ls "$$dir/testdata/fuzz/$$fz" 2>/dev/null | wc -l); \
	    { $(GO) test -run '^$$' -fuzz "^$$fz\$$" -fuzztime $(FUZZTIME) $$pkg; echo $$? >"$$tmp/rc"; } 2>&1 | tee "$$tmp/out"; \
	    after=$$(ls "$$dir/testdata/fuzz/$$fz" 2>/dev/null | wc -l); \
	    if [ "$$(cat "$$tmp/rc")" -ne 0 ]; then \
	      if [ "$$after" -eq "$$before" ] && grep -qx '    context deadline exceeded' "$$tmp/out"; then \
	        echo "fuzz: $$fz: Go's end-of-fuzztime race (go.dev/issue/75804), no failing input: not counted"; \
	      else \
	        failed="$$failed $$pkg.$$fz"; \
	      fi; \
	    fi; \
	  done; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed"; exit 1; fi; \
	echo "fuzz: every target passed"

SOAK_DURATION ?= 60s
SOAK_FLAGS    ?=

soak: build
	$(GO) run ./scripts/soak -vtepd $(BIN)/vtepd -duration $(SOAK_DURATION) $(SOAK_FLAGS)

labs: build
	scripts/labs/run-all.sh $(LABS)

clean:
	rm -rf $(BIN)
