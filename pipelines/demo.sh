#!/usr/bin/env bash
# The README's main job: doubles the frame rate of a real clip (cockatoo.mp4, 1280x720 at 20 fps, from
# Debian's python3-imageio) with the built-in default model (method=diffusion, models/default.safetensors:
# one noise-free step at processing-size 64 over the motion-compensated base; README "The default model")
# and says where the result is. METHOD=blend|motion|repeat runs another method instead. Builds the plugin
# first when needed (Swift from PATH or /opt/swift).
# Usage: pipelines/demo.sh [IN] [OUT]
set -euo pipefail
source "$(dirname "$0")/common.sh"
in=${1:-/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4}
out=${2:-$mcvd_root/out/demo-2x.mp4}
[ -f "$in" ] || mcvd_die "$in: no such file (bash tools/install-deps.sh installs the default clip)"
mkdir -p "$(dirname "$out")"
mcvd_plugin_env
method=${METHOD:-diffusion}
echo "interpolating $in (2x, method=$method$([ "$method" = diffusion ] && echo ", the default model")) ..."
METHOD=$method "$mcvd_root/pipelines/interpolate-file.sh" "$in" "$out"
probe() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=r_frame_rate,nb_read_frames,duration -of csv=p=0 "$1"; }
echo "input : $(probe "$in")   (rate, duration s, frames)"
echo "output: $(probe "$out")"
echo "wrote $out"
