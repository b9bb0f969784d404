# The two set-up commands of README.md: `make run` (main job) and `make test` (tests).
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install run prepare test

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

prepare: install
	$(VENV)/bin/scenario-serve prepare

run: prepare
	$(VENV)/bin/bentoml serve service.app:ScenarioService --host 0.0.0.0 --port 3000

test: install
	$(PY) -m pytest
