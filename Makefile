# FovEx for Swift — the two commands of the README:
#   make demo   installs what is missing, builds, fetches EfficientNet-Lite0, explains the sample photos
#   make test   installs what is missing, builds optimised with testability, runs the whole test suite

SWIFT        ?= swift
APT_PACKAGES := libdnnl-dev libturbojpeg0-dev libpng-dev pkg-config
# Numeric tests run optimised: debug builds are 10–50× slower on the kernels' loops.
TEST_FLAGS   := -c release -Xswiftc -enable-testing
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FOVEX        := .build/release/fovex
DEMO_MODEL   ?= efficientnet-lite0
DEMO_OUT     ?= demo-output

.PHONY: deps build test demo bench clean

# apt-get update runs once, and only when something is missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build -c release --product fovex

test: deps
	$(SWIFT) build $(TEST_FLAGS) --build-tests
	$(SWIFT) test $(TEST_FLAGS) --skip-build

demo: build
	$(FOVEX) models fetch $(DEMO_MODEL)
	$(FOVEX) explain docs/samples --model $(DEMO_MODEL) --out $(DEMO_OUT)
	@echo "Gallery: $(DEMO_OUT)/index.html"

bench: build
	$(FOVEX) bench kernels
	$(FOVEX) bench models

clean:
	rm -rf .build $(DEMO_OUT)
