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

.PHONY: conformance report test lint bench clean venv

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

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

## Run the project's own tests (link, session, transcript, plugin, simulator, peers)
test: venv
	$(PY) -m pytest tests -q $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check conformance tests bench

## Print the latency and idle-CPU figures (judges nothing)
bench: venv
	$(PY) bench/latency.py

clean:
	rm -rf reports/out
