# The README's two commands: `make demo` and `make test`. Both set up
# everything they need on a fresh machine (idempotent, quick when done).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONSTRAINTS := requirements/constraints.txt
# pytest exits 5 when it collects nothing: say so and fail, never pass vacuously.
PYTEST = run_pytest() { $(PY) -m pytest -n 2 --dist loadgroup "$$@"; rc=$$?; \
	if [ $$rc = 5 ]; then echo "error: pytest collected no tests" >&2; fi; return $$rc; }; run_pytest

.PHONY: setup demo test test-fast fuzz bench readme clean

setup: $(STAMP)

# torch first, from the machine's CPU wheel; everything else constrained to it.
$(STAMP): pyproject.toml $(CONSTRAINTS) scripts/setup_system.sh
	bash scripts/setup_system.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -c $(CONSTRAINTS) -e '.[train,rtl,dev]'
	touch $(STAMP)

# The multiplier network is placed too: on the default ECP5-25F nextpnr refuses it before placement (it needs
# more DSPs than the device has), so the comparison costs its Yosys run, not a second place and route.
demo: $(STAMP)
	$(VENV)/bin/shiftspike flow --out runs/demo --network-comparison

test: $(STAMP)
	$(PYTEST) tests cocotb_tests

# Day-to-day subset (under 3 minutes): everything not marked slow.
test-fast: $(STAMP)
	$(PYTEST) -m "not slow" tests cocotb_tests

# A long run of the CLI fuzz harness (tests/test_fuzz_cli.py): FUZZ_EXAMPLES examples per verb, seed printed
# in the header (replay with HYPOTHESIS_SEED=...).
FUZZ_EXAMPLES ?= 2000
fuzz: $(STAMP)
	export SHIFTSPIKE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES); $(PYTEST) tests/test_fuzz_cli.py -k slow

bench: $(STAMP)
	$(PY) benchmarks/sim_throughput.py
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/accuracy.py
	$(PY) benchmarks/rtl_area.py
	$(PY) benchmarks/dyndecay.py
	$(PY) benchmarks/saf_memory.py
	$(PY) benchmarks/first_run.py
	$(PY) benchmarks/readme_tables.py

# The README's results tables, regenerated from benchmarks/results/*.json (tests/test_readme.py checks them).
readme: $(STAMP)
	$(PY) benchmarks/readme_tables.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis sim_build
