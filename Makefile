# grounded_agent: one entry point for install, demo, tests, benchmarks.
# Every target installs what it needs first (scripts/install.sh is idempotent).

VENV ?= .venv
BIN := $(VENV)/bin
export VENV

.PHONY: help install demo demo-transport test test-all lint format bench-transport colcon clean

help:
	@echo "make demo            run the main job on the embedded defaults (installs on demand)"
	@echo "make demo-transport  the foundation demo: camera + monitor over Fast DDS for 10 s"
	@echo "make test            run the test suite (installs on demand)"
	@echo "make test-all        the test suite including tests marked slow"
	@echo "make lint | format   ruff check / ruff format"
	@echo "make bench-transport bench/ros_transport.py -> bench/results/"
	@echo "make colcon          colcon build of the workspace into build/ and install/"

install:
	@bash scripts/install.sh

demo: install
	@bash scripts/demo.sh $(DEMO_ARGS)

demo-transport: install
	@bash scripts/demo_transport.sh

test: install
	@bash scripts/test.sh

test-all: install
	@bash scripts/test.sh --all

lint: install
	@$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install
	@$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench-transport: install
	@$(BIN)/python bench/ros_transport.py

colcon: install
	@bash scripts/colcon_build.sh

clean:
	rm -rf build install log .pytest_cache .ruff_cache
