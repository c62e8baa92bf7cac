# Entry points: `make demo` (set up, then run the demo) and `make test` (set up,
# then run every test; this is what .ci/run calls).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup system-deps demo test test-rust test-python lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml vidjil_core/Cargo.toml vidjil_core/Cargo.lock $(wildcard vidjil_core/src/*.rs)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "maturin==1.16.0"
	$(VENV)/bin/maturin develop --release --extras test --quiet
	touch $(STAMP)

# The workflow on its embedded demo (a patient followed over three samples and a
# sequencing run): results/, logs/, benchmarks/, resources/ in this folder.
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

test: setup system-deps test-rust lint test-python

test-rust:
	cd vidjil_core && cargo test --locked
	cd vidjil_core && (cargo clippy --version >/dev/null 2>&1 && cargo clippy --locked --all-targets --features python -- -D warnings || echo "clippy not installed: skipped")
	cd vidjil_core && (cargo fmt --version >/dev/null 2>&1 && cargo fmt --check || echo "rustfmt not installed: skipped")

lint:
	$(VENV)/bin/ruff check vidjil webui tests bench
	$(VENV)/bin/ruff format --check vidjil webui tests bench
	$(VENV)/bin/mypy

test-python:
	$(VENV)/bin/pytest -q

bench: setup
	$(PY) bench/run_bench.py --repeat 5

clean:
	rm -rf $(VENV) vidjil_core/target results logs benchmarks resources .snakemake
