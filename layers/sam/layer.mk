# `sam build` targets for CatdogLayer and XRayLayer (`Metadata: BuildMethod: makefile`). SAM copies the layer's
# ContentUri to a temp dir, runs `make --makefile layers/sam/<arch>/Makefile build-<LogicalId>`
# there and sets only ARTIFACTS_DIR, so paths come from this file's location, and the
# architecture from which Makefile SAM picked: `ContextPath: !Sub layers/sam/${Architecture}`.
LAYERS := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
PYTHON ?= python3

build-CatdogLayer:
	$(PYTHON) $(LAYERS)/build_layers.py --layer catdog --arch $(LAYER_ARCH) --target "$(ARTIFACTS_DIR)"

# The X-Ray SDK, for Tracing=Active (the template attaches it only then; SAM builds it either way).
build-XRayLayer:
	$(PYTHON) $(LAYERS)/build_layers.py --layer xray --arch $(LAYER_ARCH) --target "$(ARTIFACTS_DIR)"
