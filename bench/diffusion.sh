#!/usr/bin/env bash
# Throughput of the element's method=diffusion (mode=interpolate, 30 -> 60 fps I420 from a raw testsrc2
# file in RAM, output discarded), to compare with the library figure of `mcvd bench --modes interpolate`.
# Each case runs gst-launch-1.0 twice, on N and on 2N input frames (best of `repeats` wall times each):
#   fps          = output frames / wall time of the 2N run (start-up, model loading and the fallback gaps
#                  at the stream's ends included);
#   fps_marginal = the N extra input frames' 2N output frames / the extra time: the steady rate, without
#                  start-up and the blend-filled gaps at the ends (what `mcvd bench --modes` measures);
#   cpu_ms_per_gap = the extra CPU time (user + system, all threads) / the N extra gaps: on a loaded machine
#                  wall times grow with the load, CPU times much less (compare with the bench's cpu_ms).
# Two tables, one line per case:
#   1. the issue's grid: frame sizes 64x64, 320x240, 1280x720 x sampler steps 1, 2, 4, 10, at the
#      element's default processing-size;
#   2. processing sizes at steps 1: native (0; refused where the model would run above the element's
#      640x480 limit), 32, 64, 128 rows.
# Usage: bench/diffusion.sh [MODEL] [repeats]   (MODEL: a model file, or "default" (the default model,
#        the element's model=""); release build of the plugin; needs ffmpeg and gst-launch-1.0)
# Env: SIZES, STEPS_LIST, PROC_SIZES (space-separated lists), FRAMES (N, default 15), THREADS (the
#      element's threads property, default 0 = auto), GRID=0 / SWEEP=0 to skip a table.
set -euo pipefail
model=${1:-default}
if [ "$model" != default ]; then
  [ -f "$model" ] || { echo "error: $model: no such file" >&2; exit 1; }
  model=$(realpath -- "$model")
fi
cd "$(dirname "$0")/.."
repeats=${2:-1}
. bench/common.sh
swift build -c release --product mcvd >/dev/null
mcvd_bin=$plugin_dir/mcvd

sizes=${SIZES:-"64x64 320x240 1280x720"}
steps_list=${STEPS_LIST:-"1 2 4 10"}
proc_sizes=${PROC_SIZES:-"0 32 64 128"}
n=${FRAMES:-15}
threads=${THREADS:-0}
default_ps=$(gst-inspect-1.0 mcvd | awk '/processing-size/ {p=1} p && /Default:/ {print $NF; exit}')
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "# $cpu, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start, $(date -u +%FT%TZ)"
info=$("$mcvd_bin" info "$model") || { echo "error: $model: not a model file mcvd reads" >&2; exit 1; }
echo "# $(echo "$info" | grep -m1 "^kernels:")"
echo "# model $(echo "$info" | grep -m1 "^model:" | sed 's/^model: //'): $(echo "$info" | grep -m1 "^config:" | sed 's/^config: //')"
echo "# element threads=$threads (0 = auto: min(4, cores)); $n and $((2 * n)) input frames at 30 fps -> 2x output at 60 fps; best of $repeats"
# The default model is the element's model="" (its default: no property given).
[ "$model" = default ] && model_prop=() || model_prop=(model="$model")

run_case() {  # SIZE STEPS PROCESSING_SIZE TABLE
  local size=$1 steps=$2 ps=$3 table=$4 w h
  w=${size%x*}; h=${size#*x}
  local raw=$work/in-$size.raw
  [ -f "$raw" ] || ffmpeg -v error -f lavfi -i "testsrc2=size=${size}:rate=30" -frames:v "$((2 * n))" -pix_fmt yuv420p -f rawvideo -y "$raw"
  launch() {  # FRAMES
    gst-launch-1.0 -q filesrc location="$raw" num-buffers=-1 ! rawvideoparse width="$w" height="$h" format=i420 framerate=30/1 \
      ! identity eos-after="$1" ! mcvd method=diffusion "${model_prop[@]}" steps="$steps" processing-size="$ps" threads="$threads" \
      ! video/x-raw,framerate=60/1 ! fakesink sync=false
  }
  # A case the element refuses (a working size above 640x480) is reported, not timed.
  if ! err=$(launch 2 2>&1 >/dev/null); then
    echo "case=diffusion table=$table size=$size steps=$steps processing_size=$ps refused=\"$(echo "$err" | grep -m1 -oE "runs the model at [0-9x]+[^;.]*" || echo "$err" | head -1)\""
    return
  fi
  local r1 r2
  r1=$(best_wall_cpu launch "$n")
  r2=$(best_wall_cpu launch "$((2 * n))")
  awk -v s="$size" -v st="$steps" -v ps="$ps" -v n="$n" -v r1="$r1" -v r2="$r2" -v tb="$table" 'BEGIN {
    split(r1, a, " "); split(r2, b, " ")
    m = (b[1] > a[1]) ? sprintf("%.2f", 2 * n / (b[1] - a[1])) : "nan"
    printf "case=diffusion table=%s size=%s steps=%s processing_size=%s frames_out=%d seconds=%.2f fps=%.2f fps_marginal=%s cpu_ms_per_gap=%.1f\n",
      tb, s, st, ps, 4 * n, b[1], 4 * n / b[1], m, (b[2] - a[2]) * 1000 / n }'
}

# "WALL CPU" of a command: the smallest wall time and the smallest CPU time (user + system, bash's `time`)
# of $repeats runs.
best_wall_cpu() {
  local wall="" cpu="" r
  for _ in $(seq "$repeats"); do
    r=$( { TIMEFORMAT="%R %U %S"; time "$@" >/dev/null 2>&1; } 2>&1 | tail -1)
    read -r wall cpu < <(echo "$r ${wall:-x} ${cpu:-x}" | awk '{
      d = $1; c = $2 + $3
      if ($4 != "x" && $4 < d) d = $4; if ($5 != "x" && $5 < c) c = $5; print d, c }')
  done
  echo "$wall $cpu"
}

if [ "${GRID:-1}" != 0 ]; then
  for size in $sizes; do for steps in $steps_list; do run_case "$size" "$steps" "$default_ps" grid; done; done
fi
if [ "${SWEEP:-1}" != 0 ]; then
  for size in $sizes; do for ps in $proc_sizes; do run_case "$size" 1 "$ps" processing-size; done; done
fi
