# The two set-up commands of the README: `make demo` and `make test`.
# Each creates .venv (if missing), installs trustopt with its extras, then runs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-oldest verify bench install clean

# `make test-oldest` runs on the lowest Python that requires-python admits (3.10); another
# interpreter: `make test-oldest OLDEST_PYTHON=/path/to/python3.10`. The stamp names the
# interpreter, so that changing it rebuilds .venv-oldest.
OLDEST_PYTHON ?= python3.10
OLDEST_VENV   := .venv-oldest
OLDEST_PY     := $(OLDEST_VENV)/bin/python
OLDEST_STAMP  := $(OLDEST_VENV)/.installed-$(subst /,_,$(OLDEST_PYTHON))

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[all]"
	touch $(STAMP)

install: $(STAMP)

# The main job: an exact-oracle run (seconds), then TRES on Swimmer-v5 with 2 workers
# until the evaluation return reaches 128 (the TRES paper's threshold), with a progress
# bar and a learning-curve PNG (runs/demo-swimmer-tres.png).
demo: $(STAMP)
	$(PY) examples/exact_trust_region.py
	$(PY) examples/train_swimmer.py

# One BLAS thread: the suite runs worker processes on 2 cores, and threaded OpenBLAS
# made small dense solves 100x slower there.
test: $(STAMP)
	OPENBLAS_NUM_THREADS=1 HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(PY) -m pytest -q tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

# The same suite at the lower bounds of pyproject.toml: the lowest Python, and every extra
# installed at the lowest releases it admits (.ci/oldest-constraints.txt), in .venv-oldest.
# Not part of `make test`; CI (.ci/run) runs it after the two passes of `make test`.
$(OLDEST_STAMP): pyproject.toml .ci/oldest-constraints.txt
	@$(OLDEST_PYTHON) -c "" 2>/dev/null || { echo "make test-oldest: OLDEST_PYTHON=$(OLDEST_PYTHON) does not run; install Python 3.10 or pass OLDEST_PYTHON=/path/to/python3.10"; exit 2; }
	$(OLDEST_PYTHON) -m venv --clear $(OLDEST_VENV)
	$(OLDEST_PY) -m pip install --quiet --upgrade pip
	$(OLDEST_PY) -m pip install --quiet -e ".[all]" -c .ci/oldest-constraints.txt
	touch $(OLDEST_STAMP)

test-oldest: $(OLDEST_STAMP)
	OPENBLAS_NUM_THREADS=1 HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(OLDEST_PY) -m pytest -q tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

verify: $(STAMP)
	$(PY) -m proofs_check --instances 10000 --report reports/verify

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[all,bench]"
	OPENBLAS_NUM_THREADS=1 $(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .venv-* build *.egg-info
