# The two commands a newcomer runs. Each creates .venv if missing and installs the suite into it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Evaluated once (:=), so a run's results never split across two folders while the install runs.
ifndef RUN
RUN := $(shell date +%Y%m%d-%H%M%S)
endif
OUT    := reports/out/$(RUN)
LAST_RUN = $(patsubst %/results.json,%,$(lastword $(sort $(wildcard reports/out/*/results.json))))
PYTEST_ARGS ?=

LAB_VENV   := .venv-lab
BENCH_VENV := .venv-bench

.PHONY: conformance conformance-ser2net report test lab lint bench bench-compare bench-modules clean venv

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# labgrid replaces pyserial with its fork, and pytest-embedded defines --baud as this suite does: each gets a venv
$(LAB_VENV)/.installed: pyproject.toml
	test -x $(LAB_VENV)/bin/python || $(PYTHON) -m venv $(LAB_VENV)
	$(LAB_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LAB_VENV)/bin/python -m pip install --quiet -e '.[dev,lab]'
	touch $@

$(BENCH_VENV)/.installed: pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[bench]'
	touch $@

## Run every case against the simulated modules; results under reports/out/<run>/
conformance: venv
	@mkdir -p $(OUT)
	CONFORMANCE_RUN=$(RUN) $(PY) -m pytest cases --results-dir reports/out --run-name $(RUN) \
		--junitxml=$(OUT)/junit.xml --alluredir=$(OUT)/allure-results -p no:cacheprovider -rfEs $(PYTEST_ARGS); \
		status=$$?; $(PY) -m conformance report summary $(OUT) || [ $$status -ne 0 ] || status=1; \
		echo "results: $(OUT) (junit.xml, allure-results/, results.json, summary.md and .html, one .atlog flight log per case)"; \
		exit $$status

## Render a run's Allure report (default: the newest run) and check it in headless Chromium; screenshots in the run's
## folder. Then the same for a run with a failing case (tests/reports/test_render.py; screenshots in reports/out/render-check)
report: venv
	$(PY) -m conformance report render $(if $(filter command line environment,$(origin RUN)),$(OUT),$(or $(LAST_RUN),reports/out/none))
	$(PY) -m pytest tests/reports/test_render.py -q -p no:cacheprovider

## The BG96 cases on the simulator's pty, then through a real ser2net over RFC 2217 and raw TCP: the same verdicts
conformance-ser2net: venv
	$(PY) -m conformance.lab.ser2net_run --out $(OUT)/ser2net

## A real labgrid coordinator and exporter: reserve a place, run cases through it, power-cycle it, release it
lab: $(LAB_VENV)/.installed
	$(LAB_VENV)/bin/python -m pytest tests/lab -q -p no:cacheprovider $(PYTEST_ARGS)

## Run the project's own tests (link, session, transcript, plugin, simulator, peers)
test: venv
	$(PY) -m pytest tests -q $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check conformance tests bench cases

## Print the latency and idle-CPU figures (judges nothing)
bench: venv
	$(PY) bench/latency.py

## This suite beside pytest-embedded, pexpect and bare pyserial on one responder; the paced sender's CPU
bench-compare: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/compare.py

## How many simulated modules one machine runs at once before an escape-timing case fails
bench-modules: venv
	$(PY) bench/modules_at_once.py

clean:
	rm -rf reports/out
