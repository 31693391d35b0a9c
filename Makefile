# Two commands: `make demo` (the main job) and `make test`. Each creates .venv on first use.
# `make docker-engine` starts the private Docker engine the docker sandbox backend uses.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1

.PHONY: demo test lint bench decision-demo docker-engine docker-engine-stop opencode clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[train,dev,ray]'
	touch $(STAMP)

# A small complete grid on embedded defaults: the two references and a seeded drifter, both
# directions of utility_privacy, with and without pressure, two context lengths; then the report.
demo: $(STAMP)
	$(BIN)/drift-gym eval --agent oracle --agent violator --agent drifter \
		--scenarios customer_records.privacy,customer_records.utility \
		--conditions baseline,pressure:3 --context none,filler:3000 --seeds 2 --max-steps 6 \
		--workers 2 --out runs/demo --overwrite
	$(BIN)/drift-gym report runs/demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2

bench: $(STAMP)
	$(BIN)/python bench/bench_env.py
	$(BIN)/python bench/bench_catalog.py
	$(BIN)/python bench/bench_grading.py
	$(BIN)/python bench/bench_sandbox.py
	$(BIN)/python bench/bench_executors.py
	$(BIN)/python bench/bench_users.py

# A private dockerd (installs docker.io when missing; prints DOCKER_HOST=...). drift_gym finds
# its socket without DOCKER_HOST; for other clients: export "$$(make -s docker-engine)".
docker-engine:
	@bash scripts/docker-engine.sh start

docker-engine-stop:
	@bash scripts/docker-engine.sh stop

# The pinned OpenCode CLI (npm opencode-ai) in .harnesses/opencode, for --agent opencode:<model>.
opencode:
	@bash scripts/install-opencode.sh

# The learning check: GRPO on a tiny offline model must take the compliant-choice rate of the
# decision variant from about chance to >= 0.9 (prints a final JSON line).
decision-demo: $(STAMP)
	$(BIN)/python training/decision_demo.py

clean:
	rm -rf $(VENV) runs .pytest_cache
