# The two set-up commands of README.md: `make run` (main job) and `make test` (tests).
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
# the peak request rate the report's capacity plan (and deploy/kubernetes' autoscaler bounds) is sized for
PEAK_RPS ?= 200

.PHONY: install run prepare select test

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.installed

prepare: install
	$(VENV)/bin/scenario-serve prepare

# measure is skipped when reports/measurements.json is current; select rewrites service/selection.json
# (and bentofile.yaml's models, deploy/kubernetes/base/selection.json) only when a pick changes; report renders
# reports/report.{html,md,json} with the capacity plan for PEAK_RPS (and deploy/kubernetes/base/autoscaler.yaml).
select: prepare
	$(VENV)/bin/scenario-serve measure
	$(VENV)/bin/scenario-serve select
	$(VENV)/bin/scenario-serve report --peak-rps $(PEAK_RPS)

run: select
	$(VENV)/bin/bentoml serve service.app:ScenarioService --host 0.0.0.0 --port 3000

# Lint, format and type checks first (configured in pyproject.toml), then the suite.
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

# Known vulnerabilities of the installed packages: pip-audit asks PyPI's JSON API about each one (network).
.PHONY: audit
audit: install
	$(PY) -m pip install --quiet -e '.[audit]'
	$(VENV)/bin/pip-audit --skip-editable --progress-spinner off
