# Two entry points: `make demo` and `make test`. Both create .venv with pip when it is missing.
# (pip, not uv/poetry: pip takes torch from this machine's disk instead of downloading it.)
# pip byte-compiles what it installs, and must: these machines set PYTHONDONTWRITEBYTECODE=1, so a
# module pip leaves uncompiled is compiled again by every process that imports it (with
#, every Ray worker recompiled torch and the suite took twice as long).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test venv bench clean

venv: $(STAMP)

# The example plugin (its tests and tests/integration/test_example_plugin.py use it) goes in with no deps and
# no build isolation: it reuses the venv's setuptools (the test extra) and downloads nothing.
PLUGIN := examples/raysweep-example-plugin

$(STAMP): pyproject.toml $(PLUGIN)/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e $(PLUGIN)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/raysweep data fonts
	$(BIN)/raysweep sweep sweeps/fonts-smoke.yaml
	$(BIN)/raysweep analyze results/fonts-smoke

# Two workers: the tests that start Ray run in one of them, one after another (tests/conftest.py),
# the rest in the other (measured on 2 cores: 600 s against 826 s with one process).
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# The attack peers (torchattacks, AutoAttack, foolbox): an optional extra, so demo and test never
# download them; specs naming `torchattacks` or `autoattack` and benchmarks/bench_attack_peers.py use them.
.PHONY: peers
peers: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[peers]'

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# FONTS at the paper's scale: install the pinned Debian font packages, then generate
# FONTS-1000 (sweeps/fonts-paper.yaml names it). demo and test never need it: they use the fonts
# bundled with matplotlib. Pinned versions first; after an `apt-get update`, the current ones
# (the font set may then differ: `raysweep data fonts --check MANIFEST` says which fonts).
FONT_PACKAGES := raysweep/data/fonts-packages.txt
FONTS_DIR     ?= /usr/share/fonts
SUDO          := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_INSTALL   := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends
HAND_INSTALL  := install the packages in $(FONT_PACKAGES) by hand (or put 1000+ Latin .ttf/.otf fonts in a folder), then run: $(BIN)/raysweep data fonts --fonts-dir DIR --max-fonts 1000

.PHONY: fonts
fonts: $(STAMP)
	@command -v apt-get >/dev/null || { echo "make fonts: no apt-get on this system; $(HAND_INSTALL)"; exit 1; }
	@pinned="$$(sed 's/#.*//' $(FONT_PACKAGES) | xargs)"; \
	$(APT_INSTALL) $$pinned >/dev/null 2>&1 \
	|| { $(SUDO) apt-get update -qq >/dev/null 2>&1; $(APT_INSTALL) $$pinned >/dev/null 2>&1; } \
	|| { echo "make fonts: pinned versions unavailable, installing the current ones (the font set may differ)"; \
	     $(APT_INSTALL) $$(echo $$pinned | sed 's/=[^ ]*//g') >/dev/null; } \
	|| { echo "make fonts: apt-get failed; $(HAND_INSTALL)"; exit 1; }
	@echo "make fonts: $$(sed 's/#.*//' $(FONT_PACKAGES) | xargs | wc -w) font packages installed; generating FONTS-1000 from $(FONTS_DIR)"
	$(BIN)/raysweep data fonts --fonts-dir $(FONTS_DIR) --max-fonts 1000

# Fashion-MNIST with no manual step: Debian's dataset-fashion-mnist puts the four
# original gzip IDX files in /usr/share/datasets/fashion-mnist/, where raysweep looks when neither
# a data root nor $RAYSWEEP_DATA holds them (raysweep/data/fmnist.py); `raysweep data fmnist` says
# where it found them and checks them. demo and test never need it.
FMNIST_PACKAGE := dataset-fashion-mnist
FMNIST_BY_HAND := run $(BIN)/raysweep data fetch fmnist --data-root DIR (or put the four Fashion-MNIST .gz files in DIR/FashionMNIST/raw) and pass --data-root DIR

.PHONY: fmnist
fmnist: $(STAMP)
	@command -v apt-get >/dev/null || { echo "make fmnist: no apt-get on this system; $(FMNIST_BY_HAND)"; exit 1; }
	@$(APT_INSTALL) $(FMNIST_PACKAGE) >/dev/null 2>&1 \
	|| { $(SUDO) apt-get update -qq >/dev/null 2>&1; $(APT_INSTALL) $(FMNIST_PACKAGE) >/dev/null; } \
	|| { echo "make fmnist: apt-get failed; $(FMNIST_BY_HAND)"; exit 1; }
	$(BIN)/raysweep data fmnist
