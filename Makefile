# synthdetect: `make demo` runs the whole pipeline on the offline demo corpus,
# `make test` runs the lint, then the test suite. Both create .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORES  ?= $(shell nproc)
# pytest workers: a test file per worker (its module fixtures run once), at least two,
# since a Snakemake run leaves a core idle between its jobs' process starts
TEST_WORKERS ?= $(shell n=$$(nproc); echo $$(( n < 2 ? 2 : n )))
# human music (two more collections for the false-positive benchmark), and a second
# General MIDI soundfont for the demo's second AI renderer
APT_PACKAGES := singularity-music warzone2100-music fluid-soundfont-gm hyperrogue-music planetblupi-music-ogg espeak-ng
TEST_APT_PACKAGES := $(APT_PACKAGES)
STAMP  := $(VENV)/.installed
# The venv installs with --no-compile, so Python caches each module's bytecode the first
# time it is imported. An inherited PYTHONDONTWRITEBYTECODE (many container images set it)
# would have every job recompile torch, pandas and Snakemake from source instead.
unexport PYTHONDONTWRITEBYTECODE
VENV_NEED_GB := 7

.PHONY: demo test lint venv apt report clean-demo

venv: $(STAMP)

$(STAMP): pyproject.toml
	@free=$$(df -Pk . | awk 'NR==2 {print $$4}'); \
	if [ "$$free" -lt $$(( $(VENV_NEED_GB) * 1024 * 1024 )) ]; then \
	  echo "warning: $(CURDIR) has $$(( free / 1024 )) MB free; the venv needs ~$(VENV_NEED_GB) GB" \
	    "(torch's CUDA build with its nvidia libraries). Free space there, or pip stops with" \
	    "'No space left on device'."; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# --no-compile: no byte-compiling of 13,000 files up front (most are never imported);
	# Python compiles a module the first time it is imported
	$(BIN)/pip install --quiet --no-compile -e '.[workflow,demo,dev]'
	# tinysoundfont's pyaudio dependency needs portaudio headers; rendering needs none of it
	$(BIN)/pip install --quiet --no-compile --no-deps 'tinysoundfont>=0.3'
	touch $@

# Installs the missing packages when root. APT_OPTIONAL=1 (make test) only warns when
# they cannot be installed: the tests that need them skip, naming the package.
apt:
	@missing=$$(for p in $(or $(PACKAGES),$(APT_PACKAGES)); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && apt-get update -qq \
	     && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; then \
	    :; \
	  elif [ -n "$(APT_OPTIONAL)" ]; then \
	    echo "warning: Debian packages missing, so the tests that use them will skip:"; \
	    echo "  sudo apt-get install $$missing"; \
	  else \
	    echo "The demo corpus needs Debian's music packages. Install them as root:"; \
	    echo "  sudo apt-get install $$missing"; \
	    exit 1; \
	  fi; \
	fi

# apt first: a missing package stops the demo before the venv takes minutes
demo: apt venv
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml \
	  --report results/demo/report/report.html
	@echo
	@cat results/demo/report/table1.md
	@echo
	@for r in operating_points false_positives controls robustness cross_source generators; do cat results/demo/report/$$r.md; echo; done
	@echo "Table 1: results/demo/report/table1.csv (and table1.md)"
	@echo "HTML report: results/demo/report/report.html"

test: lint
	@$(MAKE) --no-print-directory apt PACKAGES="$(TEST_APT_PACKAGES)" APT_OPTIONAL=1
	$(BIN)/pytest -q -ra --durations=15 -n $(TEST_WORKERS) --dist loadfile

# OFFLINE: the Snakemake runs below fail on any network connection (.test/offline)
OFFLINE := PYTHONPATH=$(CURDIR)/.test/offline$${PYTHONPATH:+:$$PYTHONPATH}

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check workflow
	# the paper config: its sources are downloads, yet parsing it must need no network
	# (config/demo.yaml would need the FluidR3 SoundFont installed just to parse)
	$(OFFLINE) $(BIN)/snakemake --lint
	# plan every variant of a tiny config (.test/config.yaml) in a scratch directory
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(OFFLINE) $(BIN)/snakemake -n --quiet rules -s $(CURDIR)/workflow/Snakefile \
	    --directory "$$tmp" --configfile $(CURDIR)/.test/config.yaml

clean-demo:
	rm -rf results/demo
