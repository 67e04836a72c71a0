# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# The first Python 3.10+ on PATH (override: make PYTHON=/path/to/python3.12 demo).
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3.10 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
	2>/dev/null && { echo $$p; break; }; done)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench slow lint install clean chromium reports

$(PY):
	@test -n "$(PYTHON)" || { echo "needs Python 3.10 or newer on PATH (or make PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# torch is pinned to a CPU-capable release here, so that an unpinned install cannot pull a
# multi-GB CUDA build; the package itself accepts torch>=2.2 (pin another in your own env).
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,dask,nnunet]' -c constraints/nnunet.txt
	touch $(STAMP)

install: $(STAMP)

# The quickstart benchmark of the shipped baselines on the built-in phantom, and its report.
# (exit code 3 means some cases failed: they are listed in the report, so go on)
demo: $(STAMP)
	$(VENV)/bin/robustbench-liver run scenarios/quickstart.yaml --model hu-threshold \
		--model unet-synth --workers 2 --out runs/quickstart || [ $$? -eq 3 ]
	$(VENV)/bin/robustbench-liver report runs/quickstart
	@echo "report: runs/quickstart/report/report.html"

test: $(STAMP)
	$(PY) -m pytest -m "not slow" -n 2 -q

bench: $(STAMP)
	$(PY) -m pytest tests/benchmarks --benchmark-only --benchmark-columns=min,median,max,rounds -q

# The browser tests need Debian's chromium and chromium-driver (no browser download).
chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null)

slow: $(STAMP) chromium
	$(PY) -m pytest -m slow -q tests/unit tests/integration tests/adversarial tests/browser

# Example reports of the shipped baselines (exit code 3 = some cases failed: still report).
REPORT_MODELS := --model hu-threshold --model unet-synth
reports: $(STAMP)
	@set -e; for s in quickstart size; do \
		$(VENV)/bin/robustbench-liver run scenarios/$$s.yaml $(REPORT_MODELS) --workers 2 \
			--out runs/reports/$$s || [ $$? -eq 3 ]; \
		$(VENV)/bin/robustbench-liver report runs/reports/$$s --out reports/$$s; \
	done
	$(VENV)/bin/robustbench-liver leaderboard runs/reports/quickstart runs/reports/size --out reports/leaderboard
	$(VENV)/bin/robustbench-liver leaderboard runs/reports/quickstart runs/reports/size \
		--out reports/leaderboard --verify

lint: $(STAMP)
	$(VENV)/bin/ruff check robustbench_liver tests
	$(VENV)/bin/ruff format --check robustbench_liver tests
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) runs .pytest_cache .benchmarks
