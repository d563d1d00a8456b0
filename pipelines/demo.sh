#!/usr/bin/env bash
# The README's main job: doubles the frame rate of a real clip (cockatoo.mp4, 1280x720 at 20 fps, from
# Debian's python3-imageio) with the built-in method and says where the result is.
# Usage: pipelines/demo.sh [IN] [OUT]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
in=${1:-/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4}
out=${2:-$here/out/demo-2x.mp4}
mkdir -p "$(dirname "$out")"
(cd "$here" && swift build -c release --product gstmcvd 2>&1 | tail -1)
echo "interpolating $in (2x, method=blend) ..."
"$here/pipelines/interpolate-file.sh" "$in" "$out"
probe() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=r_frame_rate,nb_read_frames,duration -of csv=p=0 "$1"; }
echo "input : $(probe "$in")   (rate, duration s, frames)"
echo "output: $(probe "$out")"
echo "wrote $out"
