# Everything a fresh machine needs: `make demo` runs the app, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check -q
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: setup test demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch comes from the local CPU wheel first; constraints.txt keeps every later
# install from replacing it.
$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml | $(BIN)/python
	$(PIP) torch==2.13.0
	$(PIP) -c constraints.txt -r requirements.txt -r requirements-dev.txt
	$(PIP) -c constraints.txt --no-deps -e .
	touch $@

setup: $(STAMP)

test: setup
	$(BIN)/python -m pytest

demo: setup
	@test -f app.py || { echo "app.py is not built yet (the Gradio app issue); see README.md"; exit 1; }
	$(BIN)/python app.py

bench: setup
	$(BIN)/python benchmarks/bench_generator.py

clean:
	rm -rf $(VENV) .pytest_cache
