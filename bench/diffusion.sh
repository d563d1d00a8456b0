#!/usr/bin/env bash
# Throughput of the element's method=diffusion (mode=interpolate, 30 -> 60 fps I420 from a raw testsrc2 file
# in RAM, output discarded): output frames/s, wall time of the whole gst-launch-1.0 run (model loading
# included), best of `repeats`. Two tables, one line per case:
#   1. the issue's grid: frame sizes 64x64, 320x240, 1280x720 x sampler steps 1, 2, 4, 10, at the
#      element's default processing-size;
#   2. processing sizes at steps 1: native (0; skipped where the frame is above the element's 640x480
#      limit), 64, 128, 240 rows.
# Usage: bench/diffusion.sh MODEL [repeats]   (release build of the plugin; needs ffmpeg and gst-launch-1.0)
# Env: SIZES, STEPS_LIST, PROC_SIZES (space-separated lists), FRAMES (input frames per run, default 30),
#      THREADS (the element's threads property, default auto), GRID=0 / SWEEP=0 to skip a table.
set -euo pipefail
model=${1:?usage: bench/diffusion.sh MODEL [repeats]}
[ -f "$model" ] || { echo "error: $model: no such file" >&2; exit 1; }
model=$(realpath -- "$model")
cd "$(dirname "$0")/.."
repeats=${2:-1}
. bench/common.sh
swift build -c release --product mcvd >/dev/null
mcvd_bin=$plugin_dir/mcvd

sizes=${SIZES:-"64x64 320x240 1280x720"}
steps_list=${STEPS_LIST:-"1 2 4 10"}
proc_sizes=${PROC_SIZES:-"0 64 128 240"}
n=${FRAMES:-30}
threads=${THREADS:-0}
default_ps=$(gst-inspect-1.0 mcvd | awk '/processing-size/ {p=1} p && /Default:/ {print $NF; exit}')
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "# $cpu, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start, $(date -u +%FT%TZ)"
info=$("$mcvd_bin" info "$model") || { echo "error: $model: not a model file mcvd reads" >&2; exit 1; }
echo "# $(echo "$info" | grep -m1 "^kernels:")"
echo "# model $model: $(echo "$info" | grep -m1 "^config:" | sed 's/^config: //')"
echo "# element threads=$threads (0 = auto: min(4, cores)); $n input frames at 30 fps -> $((2 * n)) output frames at 60 fps; best of $repeats"

run_case() {  # SIZE STEPS PROCESSING_SIZE TABLE
  local size=$1 steps=$2 ps=$3 table=$4 w h raw
  w=${size%x*}; h=${size#*x}
  raw=$work/in-$size.raw
  [ -f "$raw" ] || ffmpeg -v error -f lavfi -i "testsrc2=size=${size}:rate=30" -frames:v "$n" -pix_fmt yuv420p -f rawvideo -y "$raw"
  local launch=(gst-launch-1.0 -q filesrc location="$raw" ! rawvideoparse width="$w" height="$h" format=i420 framerate=30/1
                ! mcvd method=diffusion model="$model" steps="$steps" processing-size="$ps" threads="$threads"
                ! video/x-raw,framerate=60/1 ! fakesink sync=false)
  # A case the element refuses (native above 640x480) is reported, not timed.
  if ! err=$("${launch[@]}" 2>&1 >/dev/null); then
    echo "case=diffusion table=$table size=$size steps=$steps processing_size=$ps refused=\"$(echo "$err" | grep -m1 -oE "runs the model at [0-9x]+")\""
    return
  fi
  local t
  t=$(best "${launch[@]}")
  awk -v s="$size" -v st="$steps" -v ps="$ps" -v o="$((2 * n))" -v t="$t" -v tb="$table" 'BEGIN {
    printf "case=diffusion table=%s size=%s steps=%s processing_size=%s frames_out=%d seconds=%.2f fps=%.2f\n", tb, s, st, ps, o, t, o/t }'
}

if [ "${GRID:-1}" != 0 ]; then
  for size in $sizes; do for steps in $steps_list; do run_case "$size" "$steps" "$default_ps" grid; done; done
fi
if [ "${SWEEP:-1}" != 0 ]; then
  for size in $sizes; do for ps in $proc_sizes; do run_case "$size" 1 "$ps" processing-size; done; done
fi
