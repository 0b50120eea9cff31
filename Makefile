# The two commands a newcomer runs. Each creates .venv if missing and installs the suite into it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Evaluated once (:=), so a run's results never split across two folders while the install runs.
ifndef RUN
RUN := $(shell date +%Y%m%d-%H%M%S)
endif
OUT    := reports/out/$(RUN)
PYTEST_ARGS ?=

.PHONY: conformance test lint bench clean venv

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
		--junitxml=$(OUT)/junit.xml --alluredir=$(OUT)/allure -p no:cacheprovider -rfEs $(PYTEST_ARGS); \
		status=$$?; echo "results: $(OUT) (junit.xml, allure/, one .atlog flight log per case)"; exit $$status

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
