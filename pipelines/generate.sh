#!/usr/bin/env bash
# Generated video: mcvdsrc makes FRAMES frames with a model (the first block of the model's frames from
# nothing, each next block predicted from the frames before it) -> H.264 mp4 at RATE. OUT appears when
# complete (written to a hidden temporary file next to it, then renamed): a failure leaves no OUT and an
# existing OUT untouched. The same MODEL, SEED, STEPS and SIZE give the same frames on every run.
# Usage: pipelines/generate.sh MODEL OUT [FRAMES]   (default 60; env RATE=30 frame rate, also as 29.97 or
#        30000/1001; SEED=0; STEPS=0 = the model's default; SIZE=WxH another size than the model's own,
#        multiples of its size multiple)
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -ge 2 ] && [ $# -le 3 ] || mcvd_die "usage: pipelines/generate.sh MODEL OUT [FRAMES]"
model=$1 out=$2 frames=${3:-60}
[ -f "$model" ] || mcvd_die "no model file '$model' (train one with mcvd train, see README)"
[[ $frames =~ ^[0-9]+$ ]] && [ "$frames" -gt 0 ] || mcvd_die "bad FRAMES '$frames': a whole number above 0"
seed=${SEED:-0} steps=${STEPS:-0}
[[ $seed =~ ^[0-9]+$ ]] || mcvd_die "bad SEED '$seed': a whole number"
[[ $steps =~ ^[0-9]+$ ]] || mcvd_die "bad STEPS '$steps': a whole number (0 = the model's default)"
caps="video/x-raw,framerate=$(mcvd_rate "${RATE:-30}")"
if [ -n "${SIZE:-}" ]; then
  [[ $SIZE =~ ^([0-9]+)x([0-9]+)$ ]] || mcvd_die "bad SIZE '$SIZE': write it as 128x64"
  caps="$caps,width=${BASH_REMATCH[1]},height=${BASH_REMATCH[2]}"
fi
mcvd_plugin_env

tmp=$(mktemp "$(dirname -- "$out")/.$(basename -- "$out").XXXXXX")
trap 'rm -f "$tmp"' EXIT
if ! log=$(gst-launch-1.0 -q mcvdsrc model="$model" num-buffers="$frames" seed="$seed" steps="$steps" ! "$caps" \
      ! videoconvert ! x264enc speed-preset=faster ! mp4mux ! filesink location="$tmp" 2>&1); then
  echo "$log" | grep -E "^ERROR" | grep -v "doesn't want to preroll" | awk '!seen[$0]++' | head -2 >&2
  mcvd_die "generating with $model failed"
fi
chmod "$(printf "%o" $((0666 & ~0$(umask))))" "$tmp"   # mktemp made it 0600
mv -f "$tmp" "$out"
echo "wrote $out: $frames frames ($caps, seed $seed)"
