#!/usr/bin/env bash
# Live prediction of dropped frames: an is-live source that loses frames -> mcvd mode=predict
# method=diffusion -> a display (autovideosink; fakesink when there is no display). The default source is
# videotestsrc (320x240, 30 fps) followed by identity drop-probability=DROP, a stand-in for a camera or
# network that drops frames; every original passes at once, untouched, and each missing frame is
# predicted from the frames before it (README "mode=predict"): identity sends a GAP event in place of
# each lost frame, which mcvd fills at once. identity also flags the next frame DISCONT, which restarts
# the model's past, so a loss shortly after another one (before the model has its past frames again)
# repeats the frame before (counted as fallback); a camera that loses frames shows a timestamp jump
# instead, filled when the next frame arrives. The sink runs DELAY ms behind (ts-offset) so that frames
# made after their slot are still shown.
# Usage: pipelines/live-predict.sh [SECONDS]   (default 5, decimals allowed)
#        Env: DROP=0.1 (probability a frame is lost, 0 ... 1), DELAY=100 (ms), MODEL (default: the
#        built-in default model), STEPS, SEED, PROCESSING_SIZE (as in interpolate-file.sh);
#        SOURCE=gst-launch words of another live source, e.g. a camera:
#          SOURCE="v4l2src ! videoconvert ! videoscale ! video/x-raw,width=320,height=240" (DROP still applies;
#          DROP=0 to see only the camera's own losses); SINK=gst-launch words of another sink (after videoconvert).
# What appears: the source's frames at its own rate, with the dropped ones filled in; gst-launch's
# "Got EOS" after SECONDS (the default source).
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -le 1 ] || mcvd_die "usage: pipelines/live-predict.sh [SECONDS]"
seconds=${1:-5}
[[ $seconds =~ ^[0-9]*\.?[0-9]+$ ]] || mcvd_die "bad SECONDS '$seconds': a number like 5 or 2.5"
frames=$(awk -v s="$seconds" 'BEGIN { printf "%d", s * 30 + 0.5 }')
[ "$frames" -gt 0 ] || mcvd_die "SECONDS '$seconds' is less than one frame"
drop=${DROP:-0.1}
[[ $drop =~ ^(0|1|0?\.[0-9]+|1\.0*)$ ]] || mcvd_die "bad DROP '$drop': a probability from 0 to 1, like 0.1"
delay=${DELAY:-100}
[[ $delay =~ ^[0-9]+$ ]] || mcvd_die "bad DELAY '$delay': whole milliseconds"
mcvd_props=(mode=predict method=diffusion)
mcvd_diffusion_props diffusion
mcvd_plugin_env

src=${SOURCE:-"videotestsrc is-live=true pattern=ball num-buffers=$frames ! video/x-raw,width=320,height=240,framerate=30/1"}
sink=${SINK:-}
if [ -z "$sink" ]; then
  if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then sink="autovideosink"; else sink="fakesink sync=true"; fi
  sink="$sink ts-offset=$((delay * 1000000))"
fi
# shellcheck disable=SC2086
gst-launch-1.0 $src ! identity drop-probability="$drop" ! videoconvert ! mcvd "${mcvd_props[@]}" ! videoconvert ! $sink
