# The two commands of the README: `make demo` (the main job) and `make test`.
# Both create the virtualenv on first use; it is reused until requirements.txt changes.
VENV ?= .venv
STAMP := $(VENV)/.requirements-installed
# PY=/some/python make test-fast uses that interpreter as it is: no venv is made, nothing installed.
ifneq ($(filter command line environment,$(origin PY)),)
SETUP :=
else
PY := $(VENV)/bin/python
SETUP := $(STAMP)
endif
# Models trained at once, each on cores/JOBS threads (bench/train_speed.py --parallel).
JOBS ?= 2

.PHONY: demo test test-fast train verify report bench data clean-venv

# The pinned requirements, then the project itself as an editable install (pyproject.toml): `core`
# and `demo` import from anywhere, so no script touches sys.path.
# TORCH_INDEX=<PyTorch's own CPU wheel index> takes torch and torchvision, at the versions pinned in
# requirements.txt, from that index first: the default index's torch is the CUDA build, whose GPU
# libraries (about 4 GB) a CPU-only machine never uses. `==2.14.1` accepts the CPU build (2.14.1+cpu),
# so the second install keeps it. Unset (the default), nothing changes.
TORCH_INDEX ?=
TORCH_PINS = $(shell grep -E '^torch(vision)?==' requirements.txt)
$(STAMP): requirements.txt pyproject.toml
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(if $(TORCH_INDEX),$(VENV)/bin/python -m pip install --disable-pip-version-check -q --index-url $(TORCH_INDEX) $(TORCH_PINS))
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q --no-deps -e .
	cp requirements.txt $(STAMP)

data: $(SETUP)
	$(PY) -m core.data

# Gets the data, trains whatever shipped weights are missing (with progress), launches the demo.
demo: data
	$(PY) -m core.training --all --missing --jobs $(JOBS)
	$(PY) -m demo.app

# The full suite (what .ci/run runs): every chapter executed, the shipped models re-checked, the browser.
test: $(SETUP)
	$(PY) -m pytest

# The edit-run loop: the synthetic unit tests and the cheapest real-data checks (no test marked
# slow, browser or network; markers in pytest.ini), under 2 CPU-minutes on 2 cores.
test-fast: $(SETUP)
	$(PY) -m pytest -m "not slow and not browser and not network"

# Retrain every model from scratch with its recorded config and seed (the models of record, then
# the extra-seed entries of the seed-spread study), then re-choose the MAP
# denoiser's defaults (beta, steps, restarts) on the validation split for the new vae16. One overall
# progress bar; its first ETA comes from the per-epoch costs of the last full run, results/train_costs.json
# (`python -m core.training --all --estimate --jobs 2` prints them; `python -m core.training.plan --record` keeps a run's).
# AELAB_CHECKPOINTS=/some/dir make train  rebuilds into another folder, leaving checkpoints/ alone.
# make train QUICK=1  every model for one epoch into $(QUICK_DIR): an end-to-end check of the
# pipeline (the weights are not the shipped ones and never overwrite them).
# Then chapter C's t-SNE embeddings and C3 scores for the new weights go to results/cache/ (minutes of CPU, more
# than a chapter may take; skipped for weights outside checkpoints/, which the report never shows).
QUICK_DIR := .cache/quick-checkpoints
ifeq ($(QUICK),1)
train: export AELAB_CHECKPOINTS = $(abspath $(QUICK_DIR))
TRAIN_FLAGS := --epochs 1
endif
train: data
	$(PY) -m core.training --all --force --jobs $(JOBS) $(TRAIN_FLAGS)
	$(PY) -m core.training --extra-seeds --force --jobs $(JOBS) $(TRAIN_FLAGS)
	$(PY) -m core.denoising.study --choose-defaults
	$(PY) -m core.analysis.colour --ship
	$(PY) -m demo.judging --ship
	$(PY) -m core.denoising.posterior.single --ship

# Retrain one model from scratch and check its test metric against the manifest, within 2 %
# (VERIFY=name to pick; the default is the cheapest model: see README for its time).
VERIFY ?= fc64
verify: data
	$(PY) -m core.training $(VERIFY) --verify

# Renders the site into _site/ with the quarto on the PATH, else with the one the quarto-cli
# package brings beside $(PY) (installed on first use; its install downloads Quarto itself).
# Each failure says what failed: a quarto on the PATH that does not run, the package's install,
# or the quarto the package brought.
# The venv's Python is registered as the "python3" Jupyter kernel inside the venv (it wins over
# a user-wide one there), and QUARTO_PYTHON makes Quarto look for kernels with that Python (the
# post-render step that writes the downloadable notebooks runs with it too).
QUARTO_PACKAGE ?= quarto-cli
QUARTO_LOG := $(or $(TMPDIR),/tmp)/aelab-quarto-install.log
QUARTO_HELP := Install Quarto from quarto.org (Get Started) or put a working quarto on the PATH, then rerun make report. ('make test' executes every chapter without Quarto.)
report: $(SETUP)
	@quarto=$$(command -v quarto || true); \
	if [ -n "$$quarto" ]; then \
	  if ! "$$quarto" --version >/dev/null 2>&1; then \
	    echo "make report: the quarto on the PATH ($$quarto) fails 'quarto --version'. Repair it, or take it off the PATH to have make report install the $(QUARTO_PACKAGE) package instead."; \
	    exit 1; \
	  fi; \
	else \
	  quarto=$(dir $(abspath $(PY)))quarto; \
	  if ! "$$quarto" --version >/dev/null 2>&1; then \
	    echo "No quarto on the PATH: installing the $(QUARTO_PACKAGE) package beside $(PY) (log: $(QUARTO_LOG))"; \
	    if ! $(PY) -m pip install --disable-pip-version-check $(QUARTO_PACKAGE) >$(QUARTO_LOG) 2>&1; then \
	      echo "make report needs Quarto, and installing the $(QUARTO_PACKAGE) package failed (see $(QUARTO_LOG); it downloads Quarto from the internet). $(QUARTO_HELP)"; \
	      exit 1; \
	    fi; \
	    if ! "$$quarto" --version >/dev/null 2>&1; then \
	      echo "make report needs Quarto: the $(QUARTO_PACKAGE) package installed, but its $$quarto fails 'quarto --version' (install log: $(QUARTO_LOG)). $(QUARTO_HELP)"; \
	      exit 1; \
	    fi; \
	  fi; \
	fi; \
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (Autoencoder Lab)" >/dev/null && \
	echo "Rendering the site with $$quarto $$("$$quarto" --version)" && \
	QUARTO_PYTHON=$(abspath $(PY)) "$$quarto" render

bench: data
	$(PY) -m bench.train_speed
	$(PY) -m bench.denoise_speed
	$(PY) -m bench.demo_latency
	$(PY) -m bench.report_time

clean-venv:
	rm -rf $(VENV)
