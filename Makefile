# Two entry points: `make demo` and `make test`. Both create .venv with pip when it is missing.
# (pip, not uv/poetry: pip takes torch from this machine's disk instead of downloading it.)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test venv bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/raysweep data fonts
	$(BIN)/raysweep sweep sweeps/fonts-smoke.yaml
	$(BIN)/raysweep analyze results/fonts-smoke

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
