#!/usr/bin/env bash
# Screenshots of an animated scanpath SVG (written by `fovex explain` or `fovex report`) at chosen
# animation times, in headless Chromium: the SVG is inlined into a page that pauses its SMIL timeline
# and seeks (svg.pauseAnimations(); svg.setCurrentTime(t)) before the screenshot is taken.
#   tools/screenshot_scanpath.sh ANIMATION.svg OUT_PREFIX WIDTH "t1 t2 …"
# writes OUT_PREFIX-t<t>.png, WIDTH pixels wide; a time is in seconds, or with a trailing % a fraction of
# the animation's loop (e.g. 95% shows the finished path). Needs chromium (apt-get install chromium).
set -euo pipefail
svg=$1 prefix=$2 width=$3 times=$4
read -r w h < <(grep -o 'viewBox="0 0 [0-9]* [0-9]*"' "$svg" | head -1 | tr -dc '0-9 ' | awk '{print $3, $4}')
height=$(( width * h / w ))
period=$(grep -o 'dur="[0-9.]*s"' "$svg" | head -1 | tr -dc '0-9.')
page=$(mktemp --suffix=.html)
trap 'rm -f "$page"' EXIT
for t in $times; do
    seconds=$t
    if [[ $t == *% ]]; then seconds=$(awk -v p="${t%\%}" -v d="$period" 'BEGIN { printf "%.3f", p * d / 100 }'); fi
    {
        echo "<!doctype html><html><head><style>body{margin:0}svg{display:block;width:${width}px;height:${height}px}</style></head><body>"
        cat "$svg"
        echo "<script>const s = document.querySelector('svg'); s.pauseAnimations(); s.setCurrentTime($seconds);</script></body></html>"
    } > "$page"
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="$width,$height" \
        --screenshot="$prefix-t${t%\%}.png" "file://$page" 2>/dev/null
done
