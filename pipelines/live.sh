#!/usr/bin/env bash
# Live pipeline: an is-live source (videotestsrc, or a V4L2 camera with SOURCE=v4l2src) -> mcvd -> a
# display (autovideosink; fakesink when there is no display or with SINK=fakesink). mcvd adds one input
# frame of latency (it needs the next frame to place the inserted ones); the sink stays in sync.
# Usage: pipelines/live.sh [SECONDS]   (default 5; env RATE=60/1 output rate, SOURCE, SINK)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export GST_PLUGIN_PATH=${GST_PLUGIN_PATH:-$(cd "$here" && swift build -c release --show-bin-path)}
[ -f "$GST_PLUGIN_PATH/libgstmcvd.so" ] || (cd "$here" && swift build -c release --product gstmcvd >/dev/null)
seconds=${1:-5}
src=${SOURCE:-"videotestsrc is-live=true pattern=ball num-buffers=$((seconds * 30)) ! video/x-raw,width=320,height=240,framerate=30/1"}
sink=${SINK:-}
if [ -z "$sink" ]; then
  if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then sink="autovideosink"; else sink="fakesink sync=true"; fi
fi
# shellcheck disable=SC2086
gst-launch-1.0 $src ! videoconvert ! mcvd ! video/x-raw,framerate=${RATE:-60/1} ! videoconvert ! $sink
