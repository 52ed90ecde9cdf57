# zkha: the two commands are `make demo` and `make test`. Each installs what it needs on a
# fresh machine and caches it in git-ignored folders (.cache/, target/).

CARGO ?= cargo
export ZKHA_ZK_VERSION ?= 3.9.5
TESTKIT := target/debug/zkha-testkit

.PHONY: all test demo bench tools zookeeper build lint fmt clean-cache help

all: test

help:
	@echo "make demo   - start a local ZooKeeper ensemble and show zkha at work"
	@echo "make test   - the whole test suite against real ZooKeeper (Rust now)"
	@echo "make bench  - benchmark programs printing JSON lines"
	@echo "make lint   - rustfmt and clippy, warnings are errors"

tools:
	@scripts/ensure-tools

# ZooKeeper server jars from Maven Central into .cache/zookeeper/<version> (once).
zookeeper: tools
	@$(CARGO) build -q -p zkha-testkit --bin zkha-testkit
	@$(TESTKIT) install --json >/dev/null

build: tools
	$(CARGO) build --workspace --all-targets

lint: tools
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test: zookeeper lint
	$(CARGO) test --workspace --no-fail-fast

demo: zookeeper
	@$(CARGO) run -q -p zkha-examples --bin zkha-demo

bench: zookeeper
	$(CARGO) run --release -q -p zkha-examples --bin zkha-bench

fmt:
	$(CARGO) fmt --all

clean-cache:
	rm -rf .cache
