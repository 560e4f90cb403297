# Set-up is two commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean-demo venv

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lapor demo

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/lapor bench

# Stops the embedded warehouses under .lapor first (the demo's, and a benchmark's), so that no
# PostgreSQL server is left running on files that are gone.
clean-demo:
	-@for home in .lapor .lapor/bench-*; do \
		if [ -d "$$home/pgdata" ] && [ -x $(BIN)/lapor ]; then \
			env -u LAPOR_WAREHOUSE_URL LAPOR_HOME="$(CURDIR)/$$home" $(BIN)/lapor warehouse-stop; \
		fi; \
	done
	rm -rf .lapor
