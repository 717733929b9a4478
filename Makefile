# ner-crf developer commands. Every target installs what it needs first (`install` is cheap when
# nothing changed: a stamp file records the last install).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install test test-slow test-all lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,onnx]"
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-slow: install
	$(BIN)/python -m pytest -q -m slow --run-slow $(PYTEST_ARGS)

test-all: install
	$(BIN)/python -m pytest -q --run-slow $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check ner_crf tests scripts
	$(BIN)/ruff format --check ner_crf tests scripts

format: install
	$(BIN)/ruff check --fix ner_crf tests scripts
	$(BIN)/ruff format ner_crf tests scripts

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache runs
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# ner-crf commands on the sample data (override CONFIG / RUN / DATA / INPUT / ARGS on the command line,
# e.g. `make train CONFIG=configs/conll2003.yaml ARGS="--set training.epochs=5"`).
CONFIG ?= configs/default.yaml
RUN    ?= runs/default
DATA   ?= data/test.txt
INPUT  ?= -
ARGS   ?=
SENTENCE ?= Pavel Kettering met the Orion Telecom board in Dunmere on Friday.

.PHONY: train evaluate predict

# Trains CONFIG into RUN (replacing an earlier run there), then tags SENTENCE with the new model.
train: install
	$(BIN)/ner-crf train --config $(CONFIG) --output-dir $(RUN) --force $(ARGS)
	@echo "--- prediction for: $(SENTENCE)"
	@echo "$(SENTENCE)" | $(BIN)/ner-crf predict --model $(RUN) --format inline
	@echo "$(SENTENCE)" | $(BIN)/ner-crf predict --model $(RUN) --format jsonl

evaluate: install
	$(BIN)/ner-crf evaluate --model $(RUN) $(DATA) $(ARGS)

predict: install
	$(BIN)/ner-crf predict --model $(RUN) $(INPUT) $(ARGS)
