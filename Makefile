# make test   -- create/update .venv, install faiglib[book,dev] (CPU torch), run the test suite
# make book   -- same environment, execute the chapters of BOOK_SECTIONS with papermill, build the HTML book
# make book-full -- every chapter (the studies that train more networks too)
# make section S=masking PROFILE=paper DEVICE=cuda  -- execute one section notebook
# PYTHON=python3 (on the command line) uses that interpreter as it is: no venv, nothing installed.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

PROFILE ?= cpu
DEVICE ?= cpu
SEED ?= 0
DATA ?=
TRAIN_DATA ?=
OUT ?= artifacts
RESULTS ?= results
SECTIONS := degradations training preliminary attribution masking baselines retraining classification levels control lam semantics attention l2x scale your_network
# `make book`: the chapters that need only the first network's seed-0 pair, and Table 1's short trainings -- the
# 30-minute default book of a 2-core machine (measured: README). The others train more pairs (seeds 1 and 2,
# SRCNN-style, the levels target, the networks without global residual, attention and scale networks, Table 3's 27
# retrainings): `make book-full`, or one of them with `make section S=<name>`. Each chapter's wall time goes to
# results/<profile>/timings/ and the book's front page.
BOOK_SECTIONS := degradations training attribution masking control lam preliminary your_network
# book-full's order: the default book's chapters first (so their times are the default book's), then the cheaper
# studies, Table 3 last; LAM after the attention chapter, whose RCAN- and SwinIR-style pairs it compares
FULL_ORDER := $(filter-out lam,$(BOOK_SECTIONS)) scale classification levels baselines semantics attention lam l2x retraining
EXECUTED := book/sections

ifeq ($(origin PYTHON),command line)
PY := $(PYTHON)
ENV_STAMP :=
else
PY := .venv/bin/python
ENV_STAMP := .venv/.installed
endif

# `seed` only goes to notebooks of one trained pair; the multi-seed ones (Tables 1-3, classification) have `seeds`
# (quoted: a folder with a space in its name is one parameter)
PARAMS = -p profile $(PROFILE) $(if $(shell grep -s '^seed = ' notebooks/$(S).py),-p seed $(SEED)) -p device $(DEVICE) \
	-p out "$(OUT)" -p results "$(RESULTS)" \
	$(if $(DATA),-p data "$(DATA)") $(if $(TRAIN_DATA),-p train_data "$(TRAIN_DATA)")

.PHONY: gpu-check env test nbval nbval-isa nbval-refresh book book-full section notebooks notebooks-book html edition browser-check clean-book gpu-data gpu-dry-run gpu-run gpu-unpack

env: $(ENV_STAMP)

.venv/.installed: pyproject.toml constraints-cpu.txt
	test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/python -m pip install -q --upgrade pip
	.venv/bin/python -m pip install -q -c constraints-cpu.txt -e '.[book,dev]'
	touch $@

# The generated .ipynb are made here too, so that `papermill build/notebooks/<section>.ipynb …` works
# right after `make test` on a fresh clone.
test: env $(SECTIONS:%=build/notebooks/%.ipynb)
	$(PY) -m pytest -q
	$(MAKE) --no-print-directory nbval $(if $(filter command line,$(origin PYTHON)),PYTHON=$(PYTHON))
	$(MAKE) --no-print-directory nbval-isa $(if $(filter command line,$(origin PYTHON)),PYTHON=$(PYTHON))

# Regression test of the notebooks: re-execute the committed smoke-profile notebooks in tests/nbval and
# compare every printed output (figures are not compared): text exactly, printed numbers within 3 % or one unit
# of their last digit (tests/numeric_compare.py says why: the smoke pair is retrained and CPUs differ in the
# last bits). Artefacts start from nothing, so a change that
# alters a printed number cannot hide behind a cached checkpoint. One thread for both the references and the
# check: float sums in another order (two threads, or one under load vs two) moved printed digits.
NBVAL_DIR := tests/nbval
NBVAL_PARAMS := -p profile smoke -p device cpu -p out build/artifacts -p results build/results

nbval: env
	rm -rf $(NBVAL_DIR)/build
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -p no:cacheprovider --nbval $(NBVAL_DIR) --nbval-sanitize-with $(NBVAL_DIR)/sanitize.cfg
	rm -rf $(NBVAL_DIR)/build

# The same check with torch and oneDNN held to their baseline kernels (what an older or another x86-64 CPU
# computes): `make test` runs both, so CI proves the references are not tied to this machine's ISA.
nbval-isa: env
	ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=AVX2 $(MAKE) --no-print-directory nbval $(if $(filter command line,$(origin PYTHON)),PYTHON=$(PYTHON))

# Refresh the reference outputs on purpose (after a change that is meant to alter them); review the diff.
nbval-refresh: env $(SECTIONS:%=build/notebooks/%.ipynb)
	rm -rf $(NBVAL_DIR)/build
	@# in the order pytest --nbval runs them (by file name): a chapter may read pairs an earlier one trained
	for s in $(sort $(SECTIONS)); do \
	  OMP_NUM_THREADS=1 $(PY) -m papermill --log-level WARNING --cwd $(NBVAL_DIR) build/notebooks/$$s.ipynb $(NBVAL_DIR)/$$s.ipynb $(NBVAL_PARAMS) \
	    $$(grep -qs '^seed = ' notebooks/$$s.py && echo -p seed 0); \
	done
	rm -rf $(NBVAL_DIR)/build

# Notebook sources are jupytext percent files; the .ipynb are generated into build/ and executed into book/.
build/notebooks/%.ipynb: notebooks/%.py | env
	mkdir -p build/notebooks
	$(PY) -m jupytext --quiet --to ipynb --output $@ $<

section: env $(if $(S),build/notebooks/$(S).ipynb)
	test -n "$(S)" || { echo "usage: make section S=<one of: $(SECTIONS)>"; exit 2; }
	mkdir -p "$(EXECUTED)"
	rm -f "$(EXECUTED)/$(S).md"
	start=$$($(PY) -c 'import time; print(time.time())')
	@# progress bars of trainings and FAIG go to this terminal, not into the page (faiglib/core/progress.py)
	FAIGLIB_PROGRESS=terminal $(PY) -m papermill --log-level WARNING build/notebooks/$(S).ipynb "$(EXECUTED)/$(S).ipynb" $(PARAMS)
	$(PY) -c 'import sys, time, faiglib.report.book as b; print(b.record_section_time(sys.argv[1], sys.argv[2], sys.argv[3], time.time() - float(sys.argv[4])))' \
	  "$(RESULTS)" "$(PROFILE)" "$(S)" "$$start"
	@# the page shows the parameters papermill injected: absolute paths of this machine become repository-relative
	$(PY) -c 'import sys, faiglib.report.book as b; b.scrub_notebook_paths(sys.argv[1])' "$(EXECUTED)/$(S).ipynb"

notebooks: env $(SECTIONS:%=build/notebooks/%.ipynb)
	for s in $(FULL_ORDER); do $(MAKE) --no-print-directory section S=$$s $(if $(filter command line,$(origin PYTHON)),PYTHON=$(PYTHON)); done

notebooks-book: env $(BOOK_SECTIONS:%=build/notebooks/%.ipynb)
	for s in $(BOOK_SECTIONS); do $(MAKE) --no-print-directory section S=$$s $(if $(filter command line,$(origin PYTHON)),PYTHON=$(PYTHON)); done
	@# the other chapters get a page saying how to execute them (and what that cost where it was measured)
	$(PY) -c 'import sys, faiglib.report.book as b; b.write_missing_sections("$(EXECUTED)", sys.argv[1:], None, results="$(RESULTS)", profile="$(PROFILE)")' $(SECTIONS)

# MathJax is served from the book itself so that math renders offline (headless checks, air-gapped
# readers); it comes from the npm registry. Without npm, a one-line loader falls back to the CDN.
MATHJAX := _static/mathjax/tex-mml-chtml.js
$(MATHJAX):
	mkdir -p build/mathjax _static/mathjax/output/chtml/fonts
	if command -v npm >/dev/null; then \
	  (cd build/mathjax && npm pack mathjax@3.2.2 --silent >/dev/null) && \
	  tar xzf build/mathjax/mathjax-3.2.2.tgz -C build/mathjax && \
	  cp -r build/mathjax/package/es5/output/chtml/fonts/woff-v2 _static/mathjax/output/chtml/fonts/ && \
	  cp build/mathjax/package/es5/tex-mml-chtml.js $@; \
	else \
	  echo "npm not found: the book will load MathJax from the jsdelivr CDN"; \
	  echo 'document.write("<script src=\"https://cdn.jsdelivr.net/npm/mathjax@3.2.2/es5/tex-mml-chtml.js\"></script>");' > $@; \
	fi

html: env $(MATHJAX)
	$(PY) -c 'import sys, faiglib.report.book as e; sys.stdout.write(e.edition_markdown("$(RESULTS)", "$(PROFILE)"))' > book/edition.md
	$(PY) -c 'import sys, faiglib.report.scorecard as s; sys.stdout.write(s.scorecard_markdown("$(RESULTS)", "$(PROFILE)"))' > book/scorecard.md
	@# jupyter-book 1.x has no `python -m` entry point; calling its CLI function works with any interpreter
	$(PY) -c 'from jupyter_book.cli.main import main; main()' build . -W --keep-going --quiet
	echo "book: $(CURDIR)/_build/html/index.html"

book: notebooks-book html

book-full: notebooks html

# A stored edition (e.g. executed on a GPU with PROFILE=paper into book/editions/paper, see README) is
# rendered as it is: its notebooks are copied into place and never re-executed (execute_notebooks: off).
edition: env
	test -n "$(EDITION)" -a -d "$(EDITION)" || { echo "usage: make edition EDITION=book/editions/<name> PROFILE=<profile>"; exit 2; }
	mkdir -p $(EXECUTED)
	rm -f $(EXECUTED)/*.ipynb $(EXECUTED)/*.md
	cp $(EDITION)/*.ipynb $(EXECUTED)/
	@# a chapter the edition did not execute gets a page saying so (the table of contents lists every chapter)
	$(PY) -c 'import sys, faiglib.report.book as b; b.write_missing_sections("$(EXECUTED)", sys.argv[1:], "$(EDITION)", results="$(RESULTS)", profile="$(PROFILE)")' $(SECTIONS)
	$(MAKE) --no-print-directory html PROFILE=$(PROFILE) $(if $(filter command line,$(origin PYTHON)),PYTHON=$(PYTHON))

# Open every page of the built book in headless Chromium (Debian's package, installed if missing); fails on
# raw LaTeX, missing images or error cells. Screenshots: _build/screenshots/.
browser-check: html
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	$(PY) tools/check_book.py _build/html

# ---- the paper's scale on one GPU in one command (faiglib/gpu/) ----------------------------------
# 1. here:   make gpu-data          (Set14 + a lossless training set, ~55 MiB, into build/gpu-data; never committed)
#            make gpu-dry-run       (estimated H200 seconds per stage; fails if over 8 minutes)
# 2. device: the device tool's run with carry=["build/gpu-data"] and the command
#            make gpu-run PYTHON=python3
#            (the machine's own python3: no venv, no papermill; $$OUT is the folder that comes back: <= 4 parts of
#            the packed store (<= 15 MiB each), store.manifest.json, gpu_run.json and timing.log -- at most 7 files,
#            under 64 MiB)
# 3. here:   make gpu-unpack FROM=<the returned $$OUT folder> [GPU_ARGS=<the run's --set overrides>]
#            (verifies every part against the manifest before writing anything; store into $(OUT)/store, JSON
#            into $(RESULTS)/gpu/),
#            then e.g. make section S=masking PROFILE=gpu DATA=build/gpu-data/Set14 TRAIN_DATA=build/gpu-data/train
#            reads the pair, FAIG and IG from the store. Data paths are relative to the repository root on both
#            machines: the training checkpoint's key holds the training-data string.
GPU_PROFILE ?= gpu
GPU_DATA ?= build/gpu-data
GPU_OUT ?= $(OUT)
GPU_ARGS ?=
# seconds after which no stage starts and training pauses with its resume state (the pack is always written)
GPU_TIME_LIMIT ?= 480

gpu-data: env
	$(PY) tools/gpu_data.py --shared ../shared/data --out $(GPU_DATA)

gpu-dry-run: $(ENV_STAMP)
	$(PY) -m faiglib.gpu.run --dry-run --profile $(GPU_PROFILE) --data $(GPU_DATA)/Set14 \
	  --train-data $(GPU_DATA)/train $(GPU_ARGS)

gpu-run: $(ENV_STAMP)
	test -d $(GPU_DATA)/Set14 -a -d $(GPU_DATA)/train || { echo "no $(GPU_DATA): run make gpu-data here and carry it"; exit 2; }
	$(PY) -m faiglib.gpu.run --profile $(GPU_PROFILE) --data $(GPU_DATA)/Set14 \
	  --train-data $(GPU_DATA)/train --work build/gpu-work --out "$(GPU_OUT)" --time-limit $(GPU_TIME_LIMIT) $(GPU_ARGS)

# about a minute on the device: CUDA, bf16 autocast and channels-last checked, the training step and FAIG measured,
# the estimate corrected, go / no-go and the iterations that fit
gpu-check: $(ENV_STAMP)
	test -d $(GPU_DATA)/Set14 -a -d $(GPU_DATA)/train || { echo "no $(GPU_DATA): run make gpu-data here and carry it"; exit 2; }
	$(PY) -m faiglib.gpu.run --preflight --profile $(GPU_PROFILE) --data $(GPU_DATA)/Set14 \
	  --train-data $(GPU_DATA)/train --work build/gpu-work --time-limit $(GPU_TIME_LIMIT) $(GPU_ARGS)

gpu-unpack: $(ENV_STAMP)
	test -n "$(FROM)" || { echo "usage: make gpu-unpack FROM=<folder with store.tar.gz.partNN and gpu_run.json>"; exit 2; }
	$(PY) -m faiglib.gpu.run --unpack "$(FROM)" --into "$(OUT)" --results "$(RESULTS)" $(GPU_ARGS)

clean-book:
	rm -rf _build build $(EXECUTED)
