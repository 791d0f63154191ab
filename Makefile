# The two commands of the README: `make demo` (the main job) and `make test`.
# Both create the virtualenv on first use; it is reused until requirements.txt changes.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
# Models trained at once, each on cores/JOBS threads (bench/train_speed.py --parallel).
JOBS ?= 2

.PHONY: demo test train verify report bench data clean-venv

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	cp requirements.txt $(STAMP)

data: $(STAMP)
	$(PY) -m core.data

# Gets the data, trains whatever shipped weights are missing (with progress), launches the demo.
demo: data
	$(PY) -m core.train --all --missing --jobs $(JOBS)
	$(PY) demo/app.py

test: $(STAMP)
	$(PY) -m pytest

# Retrain every model from scratch with its recorded config and seed, then re-choose the MAP
# denoiser's defaults (beta, steps, restarts) on the validation split for the new vae16. One overall
# progress bar; its first ETA comes from the per-epoch costs recorded in the manifest
# (`python -m core.train --all --estimate --jobs 2` prints them).
# AELAB_CHECKPOINTS=/some/dir make train  rebuilds into another folder, leaving checkpoints/ alone.
# make train QUICK=1  every model for one epoch into $(QUICK_DIR): an end-to-end check of the
# pipeline (the weights are not the shipped ones and never overwrite them).
QUICK_DIR := .cache/quick-checkpoints
ifeq ($(QUICK),1)
train: export AELAB_CHECKPOINTS = $(abspath $(QUICK_DIR))
TRAIN_FLAGS := --epochs 1
endif
train: data
	$(PY) -m core.train --all --force --jobs $(JOBS) $(TRAIN_FLAGS)
	$(PY) -m core.analysis.vae --choose-defaults

# Retrain one model from scratch and check its test metric against the manifest, within 2 %
# (VERIFY=name to pick; the default is the cheapest, about 15 s).
VERIFY ?= fc64
verify: data
	$(PY) -m core.train $(VERIFY) --verify

report: $(STAMP)
	@if command -v quarto >/dev/null 2>&1; then QUARTO_PYTHON=$(PY) quarto render; \
	else echo "quarto is not installed here: install it from the Quarto website to render the site."; \
	     echo "The chapters' code is still executed by 'make test' (tests/test_report.py)."; exit 1; fi

bench: data
	$(PY) bench/train_speed.py
	$(PY) bench/denoise_speed.py
	$(PY) bench/demo_latency.py
	$(PY) bench/report_time.py

clean-venv:
	rm -rf $(VENV)
