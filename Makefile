# synthdetect: `make demo` runs the whole pipeline on the offline demo corpus,
# `make test` runs the test suite. Both create .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORES  ?= $(shell nproc)
# human music, and a second General MIDI soundfont for the demo's second AI renderer
APT_PACKAGES := singularity-music warzone2100-music fluid-soundfont-gm
TEST_APT_PACKAGES := $(APT_PACKAGES)
STAMP  := $(VENV)/.installed

.PHONY: demo test lint venv apt report clean-demo

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[workflow,demo,dev]'
	# tinysoundfont's pyaudio dependency needs portaudio headers; rendering needs none of it
	$(BIN)/pip install --quiet --no-deps 'tinysoundfont>=0.3'
	touch $@

apt:
	@missing=$$(for p in $(or $(PACKAGES),$(APT_PACKAGES)); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "The demo corpus needs Debian's music packages. Run as root:"; \
	    echo "  sudo apt-get install $$missing"; \
	    exit 1; \
	  fi; \
	fi

demo: venv apt
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml \
	  --report results/demo/report/report.html
	@echo
	@cat results/demo/report/table1.md
	@echo
	@for r in controls robustness cross_source; do cat results/demo/report/$$r.md; echo; done
	@echo "Table 1: results/demo/report/table1.csv (and table1.md)"
	@echo "HTML report: results/demo/report/report.html"

test: venv
	$(MAKE) apt PACKAGES="$(TEST_APT_PACKAGES)"
	$(BIN)/pytest -q -ra --durations=15

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests bench workflow/scripts
	$(BIN)/snakefmt --check workflow
	# the only lint left is 'specify a conda environment' for script rules (no env file yet)
	-$(BIN)/snakemake --lint --configfile config/demo.yaml

clean-demo:
	rm -rf results/demo
