# `make run` serves the dashboard on http://localhost:8501 (this machine only); `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8501

.PHONY: run test container-test scale-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The pinned packages, then the project's own (pyproject.toml) in editable mode: analysis, hosting,
# views and testkit import from any folder, as they are in this checkout.
$(VENV)/.installed: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(BIN)/streamlit run server.py --server.port $(PORT) $(ARGS)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

# Builds the Dockerfile with podman on a local Debian base, runs it, checks it in Chromium, removes it;
# then the scale test: two replicas of it behind Debian's HAProxy with deploy/haproxy.cfg (one build for both).
container-test: $(VENV)/.installed-dev
	CONTAINER_TEST=1 $(BIN)/python -m pytest tests/container -p no:cacheprovider

# The scale test alone (tests/container/test_scale.py).
scale-test: $(VENV)/.installed-dev
	CONTAINER_TEST=1 $(BIN)/python -m pytest tests/container/test_scale.py -p no:cacheprovider

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/derive.py
	$(BIN)/python bench/report.py
	$(BIN)/python bench/page_times.py
	$(BIN)/python bench/slides.py
	$(BIN)/python bench/adjusted.py
	$(BIN)/python bench/first_visit.py --compare
	$(BIN)/python bench/upload.py --hostile
	$(BIN)/python bench/synth_memory.py
	$(BIN)/python bench/load.py --sessions 10 --seconds 60 --browser
	$(BIN)/python bench/load.py --sessions 50 --seconds 60 --think 5 --browser

clean:
	rm -rf $(VENV) .pytest_cache
