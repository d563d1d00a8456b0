#!/usr/bin/env bash
# Motion-compensated interpolation throughput, side by side in one run: mcvd method=motion vs ffmpeg's
# minterpolate=mi_mode=mci (its other options at their defaults), both doubling 30 -> 60 fps from the
# same raw I420 file in RAM, output discarded. Prints one line per size with output frames/s and the
# ratio. Usage: bench/motion.sh [repeats]  (release build of the plugin; needs ffmpeg and gst-launch-1.0)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
. bench/common.sh

cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "# $cpu, $(nproc) cores, $(date -u +%FT%TZ), best of $repeats; fps = output frames per second (60 fps from 30 fps input)"
for size in 320x240 1280x720; do
  w=${size%x*}; h=${size#*x}
  case $size in 320x240) n=600;; *) n=150;; esac
  raw=$work/in-$size.raw
  # testsrc2: moving gradients, a moving box and a running counter (real motion, not a still).
  ffmpeg -v error -f lavfi -i "testsrc2=size=${size}:rate=30" -frames:v "$n" -pix_fmt yuv420p -f rawvideo -y "$raw"
  parse="filesrc location=$raw ! rawvideoparse width=$w height=$h format=i420 framerate=30/1"
  # Both outputs end at the last input frame's end: 2n frames.
  t_mcvd=$(best gst-launch-1.0 -q $parse ! mcvd method=motion ! video/x-raw,framerate=60/1 ! fakesink sync=false)
  t_ff=$(best ffmpeg -v error -f rawvideo -pix_fmt yuv420p -s "$size" -r 30 -i "$raw" -vf minterpolate=fps=60:mi_mode=mci -f null -)
  out=$((2 * n))
  awk -v s="$size" -v o="$out" -v a="$t_mcvd" -v b="$t_ff" 'BEGIN {
    printf "case=motion size=%s format=I420 frames_out=%d mcvd_motion_fps=%.1f ffmpeg_minterpolate_mci_fps=%.1f mcvd/ffmpeg=%.2f\n",
      s, o, o/a, o/b, b/a }'
done
