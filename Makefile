# Two commands on a fresh machine:
#   make run IMAGES=path/to/photos   index the folder, then serve it (bot with a token)
#   make test                        lint, type-check and run every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
IMAGES ?= ./images
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit index bot bench docker-smoke clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@mkdir -p "$(IMAGES)"
	$(BIN)/python -m indexer build "$(IMAGES)"
	@if $(BIN)/python -c "import sys; from search.settings import Settings; t = Settings().bot_token; sys.exit(0 if t and t.get_secret_value() else 1)"; then \
		$(BIN)/python -m bot; \
	else \
		echo "Indexed. Search from the shell: $(BIN)/python -m indexer search \"red dress\""; \
		echo "To serve it on Telegram: put T2I_BOT_TOKEN=<token from @BotFather> in .env and run make run again."; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check search indexer bot

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python benchmarks/index_throughput.py
	$(BIN)/python benchmarks/search_latency.py

docker-smoke:
	bash scripts/docker-smoke.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
