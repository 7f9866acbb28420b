# Everything a fresh machine needs: `make demo` runs the app, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check -q
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: setup browser test test-fast demo bench bundled bundled-generator clean

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

# Debian's chromium for the app's browser test; without it (no root, no apt) that test is skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium >/dev/null; } || echo "chromium unavailable: the browser test will be skipped"

test: setup browser
	$(BIN)/python -m pytest

# The developer loop (under 2 minutes): no full-size models, servers, browsers, child-process CLIs or DDP.
FAST_TIER := not slow and not server and not browser and not subprocess and not ddp
test-fast: setup
	$(BIN)/python -m pytest -q -m "$(FAST_TIER)"

demo: setup
	$(BIN)/python app.py

bench: setup
	$(BIN)/python benchmarks/bench_generator.py

# Retrain the bundled offline model from scratch into assets/bundled (see the model card in README.md).
# Runs resume: interrupt and re-run to continue (a run may span sessions; runs/ is git-ignored); a resumed
# generator run takes new GENERATOR_STEPS and SR_START. The generator stage alone, in the background:
#   mkdir -p runs/bundled64 && nohup make bundled-generator THREADS=2 > runs/bundled64/log.txt 2>&1 &
# Its held-out curve: python benchmarks/plot_training.py runs/bundled64/generator/log.jsonl:new
RUNS ?= runs/bundled64
CONFIG ?= bundled64
GENERATOR_STEPS ?= 1800
SR_START ?= 1100
CACHE_HEADS ?= 2000
RAYS ?= 1024
THREADS ?= 2
PSP_STEPS ?= 300
V2_STEPS ?= 500
V1_STEPS ?= 150
SR_STEPS ?= 200
ENCODER = $(BIN)/triplanenet train-encoder --data synthetic --synthetic-resolution 128 \
	--optimizer ranger --lr 3e-4 --save-every 50 --opacity-weight 1
resume = $$(test -f $(RUNS)/$(1)/checkpoint.pt && echo --resume)
bundled-generator:
	OMP_NUM_THREADS=$(THREADS) $(BIN)/triplanenet train-generator --config $(CONFIG) --fast --cache-heads $(CACHE_HEADS) \
		--cache-views 4 --batch 4 --views 2 --rays $(RAYS) --sr-start $(SR_START) --steps $(GENERATOR_STEPS) \
		--lr 2e-3 --warmup 200 --final-lr 0.25 --eval-every 250 --eval-heads 4 --save-every 25 \
		--out $(RUNS)/generator $(call resume,generator)
bundled: setup bundled-generator
	$(ENCODER) --generator $(RUNS)/generator --sizes bundled --stage 1 --batch 4 --steps $(PSP_STEPS) \
		--out $(RUNS)/psp $(call resume,psp)
	$(ENCODER) --init $(RUNS)/psp --version 2 --stage 2 --batch 2 --steps $(V2_STEPS) --out $(RUNS)/v2 \
		$(call resume,v2)
	$(ENCODER) --init $(RUNS)/psp --version 1 --stage 2 --batch 2 --steps $(V1_STEPS) --out $(RUNS)/v1 \
		$(call resume,v1)
	$(ENCODER) --init $(RUNS)/v2 --stage 3 --batch 4 --steps $(SR_STEPS) --optimizer adam --lr 1e-3 \
		--out $(RUNS)/sr $(call resume,sr)
	$(BIN)/triplanenet pack-bundled $(RUNS)/sr $(RUNS)/v1 $(RUNS)/generator assets/bundled

clean:
	rm -rf $(VENV) .pytest_cache
