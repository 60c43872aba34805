#!/bin/sh
# Builds the library's documentation as one static site (make docs): a symbol graph per module from the
# modules `swift build -c release` compiled, a DocC archive per module from its catalog
# (Sources/MODULE/MODULE.docc) that links to the modules it depends on, and the archives merged.
#
#     tools/build-docs.sh [OUTPUT_DIR]      (default docs-site; DOCS_BASE_PATH=sub/path when served below the root)
#
# Any DocC warning (an undocumented symbol is not one; a broken link is) fails the build.
set -eu

out=${1:-docs-site}
modules="FovExTensor FovExCheckpoints FovExImaging FovExModels FovExWeights FovExONNX FovExExplainers FovExMetrics FovExEvaluation"
bin=$(swift build -c release --show-bin-path)
triple=$(swiftc -print-target-info | sed -n 's/^ *"triple": "\(.*\)",*$/\1/p' | head -n 1)
work=.build/docs
rm -rf "$work"
mkdir -p "$work/graphs" "$work/archives"

hosting=""
if [ -n "${DOCS_BASE_PATH:-}" ]; then hosting="--hosting-base-path $DOCS_BASE_PATH"; fi

dependencies=""
for module in $modules; do
    [ -d "$bin/Modules/$module.swiftmodule" ] || [ -f "$bin/Modules/$module.swiftmodule" ] || {
        echo "build-docs: $bin/Modules/$module.swiftmodule is missing; run 'swift build -c release' first" >&2
        exit 1
    }
    mkdir -p "$work/graphs/$module"
    # The C modules' maps are found from the Sources directories, as the build finds them.
    swift-symbolgraph-extract -module-name "$module" -target "$triple" -I "$bin/Modules" \
        -I Sources/CDNNL -I Sources/CTurboJPEG -I Sources/CPNG \
        -minimum-access-level public -output-dir "$work/graphs/$module"
    # shellcheck disable=SC2086 # $dependencies and $hosting are lists of options
    docc convert "Sources/$module/$module.docc" \
        --additional-symbol-graph-dir "$work/graphs/$module" \
        --fallback-display-name "$module" --fallback-bundle-identifier "fovex.$module" \
        --enable-experimental-external-link-support $dependencies \
        --transform-for-static-hosting $hosting --warnings-as-errors \
        --output-path "$work/archives/$module.doccarchive"
    dependencies="$dependencies --dependency $work/archives/$module.doccarchive"
done

# shellcheck disable=SC2046
docc merge $(for module in $modules; do echo "$work/archives/$module.doccarchive"; done) \
    --synthesized-landing-page-name FovEx --synthesized-landing-page-kind Package \
    --output-path "$work/FovEx.doccarchive"
rm -rf "$out"
cp -R "$work/FovEx.doccarchive" "$out"
echo "Documentation: $out/index.html (serve the directory, e.g. python3 -m http.server -d $out, and open /documentation/)"
