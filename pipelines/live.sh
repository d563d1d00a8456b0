#!/usr/bin/env bash
# Live pipeline: an is-live source (videotestsrc, or a V4L2 camera with SOURCE=v4l2src) -> mcvd -> a
# display (autovideosink; fakesink when there is no display or with SINK=fakesink). mcvd adds one input
# frame of latency (it needs the next frame to place the inserted ones); the sink stays in sync.
# Usage: pipelines/live.sh [SECONDS]   (default 5, decimals allowed; env RATE=60 output rate, also as
#        59.94 or 60000/1001; SOURCE, SINK)
set -euo pipefail
source "$(dirname "$0")/common.sh"
seconds=${1:-5}
[[ $seconds =~ ^[0-9]*\.?[0-9]+$ ]] || mcvd_die "bad SECONDS '$seconds': a number like 5 or 2.5"
frames=$(awk -v s="$seconds" 'BEGIN { printf "%d", s * 30 + 0.5 }')
[ "$frames" -gt 0 ] || mcvd_die "SECONDS '$seconds' is less than one frame"
rate=$(mcvd_rate "${RATE:-60/1}")
mcvd_plugin_env
src=${SOURCE:-"videotestsrc is-live=true pattern=ball num-buffers=$frames ! video/x-raw,width=320,height=240,framerate=30/1"}
sink=${SINK:-}
if [ -z "$sink" ]; then
  if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then sink="autovideosink"; else sink="fakesink sync=true"; fi
fi
# shellcheck disable=SC2086
gst-launch-1.0 $src ! videoconvert ! mcvd ! video/x-raw,framerate=$rate ! videoconvert ! $sink
