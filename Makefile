# The study, end to end: `make reproduce` (offline miniature) and `make test`. `make help` lists targets.
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

PROFILE ?= mini
SHARDS ?= 1
JOBS ?= 1
EXECUTOR ?= slurm
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-setup
OUTPUTS ?= $(or $(XSTILTS_OUTPUTS),outputs)
export XSTILTS_OUTPUTS := $(abspath $(OUTPUTS))
# absolute, so the nested make (which inherits XSTILTS_OUTPUTS) names the same files
# PROFILE is a name (params/<name>.yaml) or a path to a YAML file; its outputs go to outputs/<file's stem>
OUT := $(XSTILTS_OUTPUTS)/$(basename $(notdir $(PROFILE)))
PROFILE_FILES := $(wildcard params/*.yaml) $(filter %.yaml %.yml,$(PROFILE))
NOTEBOOKS := 0_data 1_pretrained 2_intermediate 3_target 4_analysis
EXECUTED := $(NOTEBOOKS:%=$(OUT)/notebooks/%.ipynb)
LIB := $(shell find lib -name '*.py' 2>/dev/null)
export PYTHONUNBUFFERED := 1

# The dress rehearsal (docs/rehearsal.md): PROFILE=rehearsal runs the paper profile's own code path against
# a generated fixture hub, offline. Its Hugging Face cache, revision lock, release files and CCGbank stand-in
# live under outputs/rehearsal/fixtures/ (never ~/.cache/huggingface or lib/xstilts/data/revisions.lock.json):
# `make data` builds the fixture hub, serves it on 127.0.0.1 and runs the paper's `xstilts data` against it;
# everything after that runs with HF_HUB_OFFLINE=1.
ifeq ($(PROFILE),rehearsal)
FIXTURES := $(OUT)/fixtures
export HF_HOME := $(FIXTURES)/hf_home
export XSTILTS_LOCK := $(FIXTURES)/revisions.lock.json
export XSTILTS_RELEASES := $(FIXTURES)/releases
export XSTILTS_CCGBANK := $(FIXTURES)/ccgbank
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
FIXTURE_HUB := $(FIXTURES)/manifest.json
REHEARSAL_DATA := $(FIXTURES)/data.stamp
$(FIXTURE_HUB): | $(STAMP)
	$(BIN)/xstilts fixture-hub build $(FIXTURES)
$(REHEARSAL_DATA): | $(STAMP)
	$(MAKE) --no-print-directory data PROFILE=$(PROFILE)
endif

.PHONY: help setup validate reproduce data plan submit readme-bill test lint bench gpu-check calibrate lab clean distclean

help: ## list the targets
	@echo "make <target> [PROFILE=mini|smoke|mini-full|mini-control|paper|rehearsal] [SHARDS=N] [VERBOSE=1] [VERIFY=1]"
	@grep -E '^[a-z.-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv, install the pinned requirements, the package and a python3 kernel (once)
$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python >= 3.11 is needed (PYTHON=$(PYTHON))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (xstilts)" >/dev/null
	touch $@

validate: $(STAMP) ## check a profile in seconds, before any work starts
	$(BIN)/xstilts validate $(PROFILE)

reproduce: $(STAMP) $(REHEARSAL_DATA) ## the whole study on PROFILE (default mini): five executed notebooks + HTML reports
	@$(BIN)/xstilts validate $(PROFILE)
	@$(BIN)/xstilts repair $(PROFILE) $(if $(VERIFY),--verify)
	@$(MAKE) --no-print-directory $(OUT)/notebooks/html.stamp PROFILE=$(PROFILE) SHARDS=$(SHARDS)
	@$(BIN)/xstilts index $(PROFILE)
	@$(BIN)/xstilts runs $(PROFILE)

# Each phase notebook runs after the previous one (`xstilts execute`: papermill into a temp file renamed on
# success, one line per phase on the console; VERBOSE=1 shows papermill's own progress and logs).
$(OUT)/notebooks/1_pretrained.ipynb: $(OUT)/notebooks/0_data.ipynb
$(OUT)/notebooks/2_intermediate.ipynb: $(OUT)/notebooks/1_pretrained.ipynb
$(OUT)/notebooks/3_target.ipynb: $(OUT)/notebooks/2_intermediate.ipynb
$(OUT)/notebooks/4_analysis.ipynb: $(OUT)/notebooks/3_target.ipynb
$(OUT)/notebooks/%.ipynb: notebooks/%.ipynb $(PROFILE_FILES) $(LIB) | $(STAMP)
	@mkdir -p $(@D)
	@export XSTILTS_SINCE=$$(date +%s.%N); \
	if [ "$(SHARDS)" -gt 1 ]; then \
	  for i in $$(seq 0 $$(($(SHARDS) - 1))); do \
	    CUDA_VISIBLE_DEVICES=$${CUDA_DEVICES_$$i-$$i} $(BIN)/xstilts execute $< $@ --profile $(PROFILE) --no-progress \
	      --shard $$i --num-shards $(SHARDS) $(if $(VERBOSE),--verbose) & \
	  done; wait; \
	fi; \
	$(BIN)/xstilts execute $< $@ --profile $(PROFILE) $(if $(VERBOSE),--verbose)

# HTML reports of the notebooks executed this time, in one nbconvert process.
$(OUT)/notebooks/html.stamp: $(EXECUTED)
	@$(BIN)/jupyter nbconvert --to html --log-level WARN $?
	@touch $@

data: $(STAMP) $(FIXTURE_HUB) ## download and cache what PROFILE needs (on a connected machine); offline: list what is missing
ifeq ($(PROFILE),rehearsal)
	$(BIN)/xstilts fixture-hub serve $(FIXTURES) -- $(BIN)/xstilts data $(PROFILE)
	@touch $(REHEARSAL_DATA)
else
	$(BIN)/xstilts data $(PROFILE)
endif

plan: $(STAMP) ## the cost of PROFILE before compute: runs, FLOPs, GPU-hours (compute vs communication), wall-clock, disk
	$(BIN)/xstilts plan $(PROFILE)

submit: $(STAMP) $(REHEARSAL_DATA) ## PROFILE's phases through submitit: EXECUTOR=slurm (default) or local; ARGS="--dry-run ..." passed on
	$(BIN)/xstilts submit $(PROFILE) --executor $(EXECUTOR) $(ARGS)

readme-bill: $(STAMP) ## rewrite the README's bill from `xstilts plan paper` at the stated defaults
	$(BIN)/xstilts plan paper --readme README.md

test: $(STAMP) ## the test suite (offline, CPU)
	$(BIN)/python -m pytest

lint: $(STAMP) ## the linter and the formatter's check (ruff, configured in pyproject.toml)
	$(BIN)/ruff check lib tests
	$(BIN)/ruff format --check lib tests

bench: $(STAMP) ## measured speed: trainer ratios, eval throughput, the analysis at paper scale -> outputs/bench/bench.json
	$(BIN)/xstilts bench

gpu-check: $(STAMP) ## on a GPU node: bf16 rehearsal sizes, MFU, launch floor, 2-rank FSDP -> outputs/gpu-check/report.json
	$(BIN)/xstilts gpu-check

calibrate: $(STAMP) ## simulation study of the bootstrap on 12 designs: γ's coverage, type-I error, power (JOBS=N processes)
	$(BIN)/xstilts calibrate --out outputs/calibration --jobs $(JOBS)

lab: $(STAMP) ## JupyterLab on the notebooks
	$(BIN)/jupyter lab notebooks/

environment.yml: requirements.txt ## regenerate the conda environment from the pin list
	$(BIN)/python -m xstilts.envfile requirements.txt > $@

clean: ## remove outputs/PROFILE (runs, reports, caches)
	rm -rf $(OUT)

distclean: ## remove every output and the virtual environment
	rm -rf $(OUTPUTS)/*/ $(VENV)
