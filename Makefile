# zkha: the two commands are `make demo` and `make test`. Each installs what it needs on a
# fresh machine and caches it in git-ignored folders (.cache/, target/).

CARGO ?= cargo
export ZKHA_ZK_VERSION ?= 3.9.5
TESTKIT := target/debug/zkha-testkit

.PHONY: all test test-rust test-java demo bench tools zookeeper build lint fmt clean-cache help jar
MVN := mvn -B -q -Dmaven.repo.local=$(CURDIR)/.cache/m2
JAVA_DIR := jni-bridge/java

all: test

help:
	@echo "make demo   - start a local ZooKeeper ensemble and show zkha at work"
	@echo "make test   - the whole test suite against real ZooKeeper (Rust, and the Flink plugin's JUnit)"
	@echo "make bench  - benchmark programs printing JSON lines"
	@echo "make lint   - rustfmt and clippy, warnings are errors"
	@echo "make jar    - the Flink HA plugin jar (jni-bridge/java/target/zkha-flink-*.jar)"

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

test: zookeeper lint test-rust test-java

test-rust:
	$(CARGO) test --workspace --no-fail-fast

# The Flink plugin's JUnit tests (real ZooKeeper, Flink 2.3's own classes), on the debug natives.
test-java: tools
	$(CARGO) build -q -p zkha-jni -p zkha-testkit
	$(MVN) -f $(JAVA_DIR)/pom.xml -Dzkha.native.dir=$(CURDIR)/target/debug -Dzkha.testkit=$(CURDIR)/target/debug/zkha-testkit verify

# The Flink plugin jar (natives inside) and its lib/ loader jar, in jni-bridge/java/target/.
jar: tools
	$(CARGO) build --release -q -p zkha-jni
	mkdir -p target/jni && cp target/release/libzkha_jni.so target/jni/ && strip --strip-debug target/jni/libzkha_jni.so
	$(MVN) -f $(JAVA_DIR)/pom.xml -Dzkha.native.dir=$(CURDIR)/target/jni -DskipTests package
	@ls -l $(JAVA_DIR)/target/zkha-flink-*.jar

demo: zookeeper
	@$(CARGO) run -q -p zkha-examples --bin zkha-demo

bench: zookeeper
	$(CARGO) run --release -q -p zkha-examples --bin zkha-bench

fmt:
	$(CARGO) fmt --all

clean-cache:
	rm -rf .cache
