#!/usr/bin/env bash
# Interpolate a video file: any container/codec decodebin reads -> mcvd -> H.264 mp4 at the new rate, with
# the input's audio tracks kept in sync (copied as they are when mp4 takes the codec: AAC, MP3, AC-3,
# E-AC-3, ALAC, MP2, Opus; else encoded to AAC).
# Usage: pipelines/interpolate-file.sh IN OUT [RATE]    RATE: the output frame rate, as 60, 29.97, 60/1 or
#        24000/1001 (default: input rate x 2; needed for a variable-rate input; 4x: give the rate, e.g.
#        100 for a 25 fps file).
#        Env: METHOD=blend|repeat|motion|diffusion (default blend; diffusion when MODEL is set),
#        LOSSLESS=1 for lossless H.264 (qp 0: decoded frames equal mcvd's output, so originals are
#        checkable bit-exact).
#        Diffusion (README "method=diffusion"): METHOD=diffusion runs the built-in default model;
#        MODEL=model.safetensors another one; STEPS (default: the model's), PROCESSING_SIZE (rows the
#        model runs at; default the element's, 0 = the frame's own size), SEED.
# Example: METHOD=diffusion pipelines/interpolate-file.sh in.mp4 out-2x.mp4
# What appears: OUT, with the same duration as IN and (for 2x) twice its frames. OUT is written to a
# temporary file next to it and renamed at the end, so a failure leaves no OUT and never touches an
# existing one; OUT may not be IN (also through a symlink or hard link). Odd widths/heights get one black
# column/row on the right/bottom (4:2:0 H.264 needs even sizes). Exit status: 0 ok, 1 error, 3 OUT is
# shorter than IN says it is (a truncated input, or decoding stopped early; OUT is kept).
set -euo pipefail
source "$(dirname "$0")/common.sh"
in=${1:?usage: $0 IN OUT [RATE]}; out=${2:?usage: $0 IN OUT [RATE]}; rate=${3:-}
mcvd_check_paths "$in" "$out"
[ -n "$rate" ] && rate=$(mcvd_rate "$rate")
method=${METHOD:-blend}; [ -n "${MODEL:-}" ] && method=${METHOD:-diffusion}
mcvd_props=(method="$method")
mcvd_diffusion_props "$method"
mcvd_check_video "$in"
mcvd_plugin_env

caps=(); [ -n "$rate" ] && caps=(! "video/x-raw,framerate=$rate")
mcvd_rate_hint="$0 $in $out 60"
mcvd_to_mp4 "$in" "$out" mcvd "${mcvd_props[@]}" "${caps[@]}"
mcvd_check_duration "$in" "$out"
