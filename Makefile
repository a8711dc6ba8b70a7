# Two commands: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.irpath-installed
DEMO_OUT ?= demo_out
# pytest-xdist workers: two processes overlap TensorFlow start-up and the
# subprocess-heavy CLI tests (about 9 min instead of 15 on 2 cores); a file's
# tests stay in one worker. `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= 2
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED ?= 0

.PHONY: demo test install bench bench-peers clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (irpath needs Python 3.11)"; exit 2; }
	$(PYTHON) -m venv $(VENV)

# Reinstalled only when the package metadata or the pins change.
$(STAMP): $(BIN)/python setup.cfg pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# The layer contract (setup.cfg [importlinter]) first: a broken layer fails `make test`.
test: $(STAMP)
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/python -m pytest -q --durations=15 tests notebooks --nbmake --nbmake-timeout=600 -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/irpath demo --out $(DEMO_OUT)

bench: $(STAMP)
	$(BIN)/python benchmarks/input_pipeline.py
	$(BIN)/python benchmarks/train_step.py

# irpath nuclei beside StarDist (StarDist gets its own venv, benchmarks/peers/.venv-stardist).
bench-peers: $(STAMP)
	$(BIN)/python benchmarks/peers/stardist.py $(PEERS_ARGS)

clean:
	rm -rf $(VENV) $(DEMO_OUT) build *.egg-info
