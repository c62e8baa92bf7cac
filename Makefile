# Entry points: `make demo` (set up, then run the demo), `make test` (set up, then
# run every test and check; this is what .ci/run calls) and `make format`.

PYTHON ?= python3
CARGO ?= cargo
VENV := .venv
PY := $(VENV)/bin/python
RUFF := $(VENV)/bin/ruff
STAMP := $(VENV)/.installed
PYTHON_SOURCES := vidjil webui tests bench
STUBTEST_ALLOWLIST := $(wildcard vidjil/stubtest-allowlist.txt)

.PHONY: setup system-deps demo test test-rust check-rust lint stubtest test-python format bench clean

setup: $(STAMP)

# maturin installs into the active virtualenv: this project's, whatever the caller's shell has.
$(STAMP): pyproject.toml vidjil_core/Cargo.toml vidjil_core/Cargo.lock $(wildcard vidjil_core/src/*.rs)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "maturin==1.16.0"
	env -u CONDA_PREFIX VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --extras test --quiet
	touch $(STAMP)

# The workflow on its embedded demo (a patient followed over five samples and two
# sequencing runs): results/, logs/, benchmarks/, resources/ in this folder.
demo: setup
	$(VENV)/bin/snakemake --profile profiles/local

# Debian packages of the tests that need real programs (a SLURM cluster, Chromium
# for the browser tests, nginx and openssl for the HTTPS front of the viewer):
# installed when running as root with apt (CI); elsewhere those tests skip and say why.
system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(dpkg -s chromium nginx openssl curl slurmctld slurmd slurm-client slurmdbd munge mariadb-server >/dev/null 2>&1 \
			|| apt-get update -qq) \
		&& (dpkg -s chromium nginx openssl curl >/dev/null 2>&1 \
			|| DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium nginx openssl curl >/dev/null) \
		&& bash scripts/slurm-test-cluster.sh install; \
	else echo "system-deps: not root or no apt-get: the SLURM and browser tests will skip"; fi

test: setup system-deps test-rust check-rust lint stubtest test-python

test-rust:
	cd vidjil_core && $(CARGO) test --locked

# `$(call checked,TOOL,PROBE,COMMAND)` runs COMMAND when PROBE shows that TOOL is
# installed. A missing tool skips the check, except in CI (CI=true) where it is an
# error; a check that runs and fails is a failure everywhere.
checked = @if $(2) >/dev/null 2>&1; then echo '$(3)' && $(3); \
	elif [ "$$CI" = true ]; then echo "$(1) is not installed (required in CI)" >&2; exit 1; \
	else echo "$(1) is not installed: skipped"; fi

check-rust:
	$(call checked,clippy,$(CARGO) clippy --version,cd vidjil_core && $(CARGO) clippy --locked --all-targets --features python -- -D warnings)
	$(call checked,rustfmt,$(CARGO) fmt --version,cd vidjil_core && $(CARGO) fmt --check)

lint:
	$(RUFF) check $(PYTHON_SOURCES)
	$(RUFF) format --check $(PYTHON_SOURCES)
	$(VENV)/bin/mypy

# The type stub against the built engine (vidjil/stubtest-allowlist.txt, when it
# exists, lists the accepted differences).
stubtest:
	$(PY) -m mypy.stubtest vidjil.vidjil_core $(if $(STUBTEST_ALLOWLIST),--allowlist $(STUBTEST_ALLOWLIST))

test-python:
	$(VENV)/bin/pytest -q

# Rewrites the sources in the project's style (needs `make setup` once, for ruff).
format:
	cd vidjil_core && $(CARGO) fmt
	$(RUFF) check --fix $(PYTHON_SOURCES)
	$(RUFF) format $(PYTHON_SOURCES)

bench: setup
	$(PY) bench/run_bench.py --repeat 5

clean:
	rm -rf $(VENV) vidjil_core/target results logs benchmarks resources .snakemake
