# barque: build, run and test.  `make help` lists the targets.
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
PROTOS := $(shell find protos -name '*.proto' | sort)
BINDIR ?= /usr/local/bin

# Debian packages the engine, its main job and its tests use.
# docker.io and debootstrap: the build tests compare with docker 20.10's legacy
# builder and build their Debian base image (tests/support/baseimages.py);
# gcc and libc6-dev: the fuzz tier's seed image holds a static sleeper built by it;
# bats, jq, gawk and dpkg-dev (apt-get source): runc's own integration suite (tests/ocisuite)
APT_PACKAGES := docker-registry skopeo umoci busybox-static runc apache2-utils zstd curl iproute2 \
	python3-venv ca-certificates systemd podman conmon iptables util-linux tini procps docker.io debootstrap \
	gcc libc6-dev bats jq gawk dpkg-dev

.PHONY: help deps install venv protos check-protos up down status demo test test-unit test-oci lint bench-deps bench-pull bench-run bench-net bench-build bench-push soak fuzz faults

help:
	@echo "make install       venv + generated code + barque on PATH ($(BINDIR))"
	@echo "make up / down     start / stop every service in the background (unix sockets, /var/lib/barque)"
	@echo "make demo          the main job: local registry seeded with busybox, pull it, list it"
	@echo "make test          every test tier (tests/unit, tools, kernel, integration, registry, peers, fuzz)"
	@echo "make fuzz          the RPC fuzzer's long session: FUZZ_EXAMPLES (2000) fuzzed requests per RPC"
	@echo "make faults        the fault tests with FAULT_POINTS (5) seeded kill points per operation x service;"
	@echo "                   BARQUE_FAULT_SEED=<n> replays a schedule (its seed is in each test id)"
	@echo "make test-unit     the fast inner loop: tests/unit only, pure logic, runs as any user"
	@echo "make test-oci      runc 1.1.5's own integration suite against Debian's runc and barque-oci side by side:"
	@echo "                   counts, the tests passing for runc and failing for barque-oci, JSON in OCI_RESULTS"
	@echo "make check-protos  fail when generated code is stale"
	@echo "make bench-pull    cold pull benchmark against skopeo/docker/podman"
	@echo "make bench-run     container start latency and memory against docker/podman"
	@echo "make bench-net     bridge throughput (iperf3) and network start-up cost against docker/podman"
	@echo "make bench-build   barque build (cold, cached, one changed file) against docker legacy/BuildKit/podman"
	@echo "make bench-push    push of a 150 MB 4-layer image (cold and warm) against docker push and skopeo copy"
	@echo "make soak          container lifecycles from SOAK_CLIENTS clients for SOAK_SECONDS (300) with pulls, builds,"
	@echo "                   prunes; asserts no leak and flat RSS, ops/s and peak containers beside docker/podman"

deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

venv: $(PY)
	$(PY) -m pip install -q -e '.[test]'

protos: $(PY)
	$(PY) -m grpc_tools.protoc -I protos --python_out=protos --pyi_out=protos --grpc_python_out=protos $(PROTOS)

check-protos: $(PY)
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$(PY) -m grpc_tools.protoc -I protos --python_out=$$tmp --pyi_out=$$tmp --grpc_python_out=$$tmp $(PROTOS); \
	bad=0; for f in $$(cd $$tmp && find . -name '*.py*' -type f); do \
	  cmp -s $$tmp/$$f protos/$$f || { echo "stale generated code: protos/$${f#./} (run make protos)"; bad=1; }; done; \
	exit $$bad

install: deps venv
	@# bytecode ahead of time: barque-oci and the shim start several times per
	@# container, and PYTHONDONTWRITEBYTECODE would otherwise recompile every time
	$(PY) -m compileall -q -j 0 client services cli protos deploy bench >/dev/null
	install -d -m 0755 $(BINDIR)
	for b in barque-registryd barque-imagesd barque-runtimed barque-oci; do \
	  ln -sf $(VENV)/bin/$$b $(BINDIR)/$$b; done
	@# `barque` is the launcher (cli/launcher.py) under `python -IS`: it starts in
	@# ~10 ms and hands the command to the warm command server (cli/cmdserver.py)
	{ echo '#!$(PY) -IS'; tail -n +1 cli/launcher.py; } > $(BINDIR)/.barque.tmp
	chmod 0755 $(BINDIR)/.barque.tmp && mv -f $(BINDIR)/.barque.tmp $(BINDIR)/barque

up: install
	$(PY) -m deploy.services up

down:
	$(PY) -m deploy.services down

status:
	$(PY) -m deploy.services status

demo: install up
	deploy/demo.sh

test: install check-protos
	$(PY) -m pytest -q --durations=25 tests

test-unit:
	$(PY) -m pytest -q tests/unit

# issue 18's conformance tier (tests/ocisuite/README.md): the whole of runc's
# tests/integration from Debian's runc source package; make test runs a subset
OCI_RESULTS ?= /tmp/barque-ocisuite.json

test-oci: install
	$(PY) -m tests.ocisuite.run --json $(OCI_RESULTS)

# the RPC fuzzer (tests/fuzz) for the record: `make test` runs it with 20
# examples per RPC (a quarter for the expensive ones), this with FUZZ_EXAMPLES
FUZZ_EXAMPLES ?= 2000
fuzz: install
	BARQUE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q --durations=10 tests/fuzz

lint:
	$(PY) -m mypy services cli

# the peers the benchmarks compare against (Debian's docker.io is 20.10), and
# debootstrap, which bench-pull builds its Debian image with; bench-net's
# iperf3, and podman's CNI plugins for its default bridge network
BENCH_PACKAGES := docker.io podman debootstrap iperf3 containernetworking-plugins

bench-deps:
	@missing=$$(for p in $(BENCH_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi

bench-pull: install bench-deps
	$(PY) -m bench.pull

bench-run: install bench-deps
	$(PY) -m bench.run

bench-net: install bench-deps
	$(PY) -m bench.net

bench-build: install bench-deps
	$(PY) -m bench.build

bench-push: install bench-deps
	$(PY) -m bench.push

# issue 17's faults: every tests/integration/test_faults_*.py, with more kill
# points per operation x service than make test's one
FAULT_POINTS ?= 5

faults: install
	BARQUE_FAULT_POINTS=$(FAULT_POINTS) $(PY) -m pytest -q --durations=10 tests/integration/test_faults_*.py

# issue 17's soak: SOAK_SECONDS per engine (barque, then docker and podman)
SOAK_SECONDS ?= 300
SOAK_CLIENTS ?= 4

soak: install bench-deps
	$(PY) -m bench.soak --seconds $(SOAK_SECONDS) --clients $(SOAK_CLIENTS)
