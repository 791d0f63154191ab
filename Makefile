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
# denoiser's defaults (beta, steps, restarts) on the validation split for the new vae16.
# AELAB_CHECKPOINTS=/some/dir make train  rebuilds into another folder, leaving checkpoints/ alone.
train: data
	$(PY) -m core.train --all --force --jobs $(JOBS)
	$(PY) -m core.analysis.vae --choose-defaults

# Retrain one model from scratch and check its test metric against the manifest, within 2 %
# (VERIFY=name to pick; the default is the cheapest, about 15 s).
VERIFY ?= fc64
verify: data
	$(PY) -m core.train $(VERIFY) --verify

# Renders the site into _site/ with the quarto on the PATH, else with the one the quarto-cli
# package brings beside $(PY) (installed on first use; its install downloads Quarto itself).
# The venv's Python is registered as the "python3" Jupyter kernel inside the venv (it wins over
# a user-wide one there), and QUARTO_PYTHON makes Quarto look for kernels with that Python.
QUARTO_PACKAGE ?= quarto-cli
QUARTO_LOG := $(or $(TMPDIR),/tmp)/aelab-quarto-install.log
report: $(STAMP)
	@quarto=$$(command -v quarto || true); \
	if [ -z "$$quarto" ]; then \
	  quarto=$(dir $(abspath $(PY)))quarto; \
	  if ! "$$quarto" --version >/dev/null 2>&1; then \
	    echo "No quarto on the PATH: installing the $(QUARTO_PACKAGE) package beside $(PY) (log: $(QUARTO_LOG))"; \
	    $(PY) -m pip install --disable-pip-version-check $(QUARTO_PACKAGE) >$(QUARTO_LOG) 2>&1 || true; \
	  fi; \
	fi; \
	if ! "$$quarto" --version >/dev/null 2>&1; then \
	  echo "make report needs Quarto, and installing the $(QUARTO_PACKAGE) package failed (see $(QUARTO_LOG); it downloads Quarto from the internet). Install Quarto from quarto.org (Get Started) or put a quarto on the PATH, then rerun make report. ('make test' executes every chapter without Quarto.)"; \
	  exit 1; \
	fi; \
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (Autoencoder Lab)" >/dev/null && \
	echo "Rendering the site with $$quarto $$("$$quarto" --version)" && \
	QUARTO_PYTHON=$(abspath $(PY)) "$$quarto" render

bench: data
	$(PY) bench/train_speed.py
	$(PY) bench/denoise_speed.py
	$(PY) bench/demo_latency.py
	$(PY) bench/report_time.py

clean-venv:
	rm -rf $(VENV)
