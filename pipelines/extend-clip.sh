#!/usr/bin/env bash
# Extend a clip: N frames predicted after its last one (mcvd mode=predict method=diffusion
# extend-frames=N: block-wise autoregression, each block of the model's frames predicted from the frames
# before it) -> H.264 mp4 at the input's rate, the input's audio tracks kept as in interpolate-file.sh
# (the audio is not extended: it ends where it ended).
# Usage: pipelines/extend-clip.sh IN OUT N    N: frames to add (1 ... 10000)
#        Env: MODEL=model.safetensors (default: the built-in default model), STEPS (default: the
#        model's), PROCESSING_SIZE (rows the model runs at; default the element's 64, 0 = the frame's own
#        size), SEED; RATE=25 (also 29.97 or 30000/1001) puts videorate before mcvd, for variable-rate
#        input (predict mode needs a frame grid); LOSSLESS=1 for qp-0 H.264.
# Example: pipelines/extend-clip.sh in.mp4 longer.mp4 25
# What appears: OUT with IN's frames, untouched up to the encoder, then N predicted ones: N frames and
# N / rate seconds longer than IN. OUT is written to a temporary file next to it and renamed at the end
# (a failure leaves no OUT, an existing OUT untouched); OUT may not be IN. Odd sizes are padded as in
# interpolate-file.sh. Exit status: 0 ok, 1 error, 3 OUT is shorter than IN plus the added frames.
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -eq 3 ] || mcvd_die "usage: pipelines/extend-clip.sh IN OUT N   (N: frames to add)"
in=$1 out=$2 n=$3
mcvd_check_paths "$in" "$out"
[[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 10000 ] || mcvd_die "bad N '$n': a whole number of frames, 1 to 10000"
[ -z "${METHOD:-}" ] || [ "$METHOD" = diffusion ] || mcvd_die "extend-clip predicts with a model (METHOD=diffusion); METHOD=$METHOD does not predict"
mcvd_props=(mode=predict method=diffusion extend-frames="$n")
mcvd_diffusion_props diffusion
mcvd_check_video "$in"
rate_caps=()
if [ -n "${RATE:-}" ]; then
  rate=$(mcvd_rate "$RATE") || exit 1; rate_caps=(videorate ! "video/x-raw,framerate=$rate" !)
else
  rate=$(mcvd_probe "$in" v r_frame_rate)
fi
[[ $rate =~ ^[0-9]+/[1-9][0-9]*$ ]] && [ "${rate%/*}" -gt 0 ] || mcvd_die "$in: no frame rate known; give one: RATE=25 $0 $*"
mcvd_plugin_env

mcvd_to_mp4 "$in" "$out" "${rate_caps[@]}" mcvd "${mcvd_props[@]}"
mcvd_check_duration "$in" "$out" "$(awk -v n="$n" -v r="$rate" 'BEGIN { split(r, f, "/"); printf "%.6f", n * f[2] / f[1] }')"
echo "wrote $out: $n frames predicted after the last frame of $(basename -- "$in")"
