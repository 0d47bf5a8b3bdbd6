# `sam build` target for CatdogLayer (`Metadata: BuildMethod: makefile`). SAM copies the layer's
# ContentUri to a temp dir, runs `make --makefile layers/sam/<arch>/Makefile build-CatdogLayer`
# there and sets only ARTIFACTS_DIR, so paths come from this file's location, and the
# architecture from which Makefile SAM picked: `ContextPath: !Sub layers/sam/${Architecture}`.
LAYERS := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
PYTHON ?= python3

build-CatdogLayer:
	$(PYTHON) $(LAYERS)/build_layers.py --arch $(LAYER_ARCH) --target "$(ARTIFACTS_DIR)"
