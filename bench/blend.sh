#!/usr/bin/env bash
# Blend throughput, side by side in one run: mcvd method=blend vs ffmpeg's `framerate` filter vs
# GStreamer's videorate (which only duplicates), all doubling 30 -> 60 fps from the same raw file in
# RAM, output discarded. Prints one line per case with output frames/s and the ratios.
# Usage: bench/blend.sh [repeats]   (release build of the plugin; needs ffmpeg and gst-launch-1.0)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
. bench/common.sh

echo "# $(nproc) cores, $(date -u +%FT%TZ), best of $repeats; fps = output frames per second (60 fps from 30 fps input)"
for size in 64x64 320x240 1280x720; do
  w=${size%x*}; h=${size#*x}
  case $size in 64x64) n=30000;; 320x240) n=4000;; *) n=800;; esac
  for fmt in GRAY8 I420; do
    pix=$([ "$fmt" = GRAY8 ] && echo gray || echo yuv420p)
    raw=$work/in-$size-$fmt.raw
    ffmpeg -v error -f lavfi -i "testsrc2=size=${size}:rate=30" -frames:v "$n" -pix_fmt "$pix" -f rawvideo -y "$raw"
    parse="filesrc location=$raw blocksize=$((w * h * 3)) ! rawvideoparse width=$w height=$h format=$(echo $fmt | tr A-Z a-z) framerate=30/1"
    t_mcvd=$(best gst-launch-1.0 -q $parse ! mcvd method=blend ! video/x-raw,framerate=60/1 ! fakesink sync=false)
    t_rate=$(best gst-launch-1.0 -q $parse ! videorate ! video/x-raw,framerate=60/1 ! fakesink sync=false)
    t_ff=$(best ffmpeg -v error -f rawvideo -pix_fmt "$pix" -s "$size" -r 30 -i "$raw" -vf framerate=fps=60 -f null -)
    out=$((2 * n))
    awk -v s="$size" -v f="$fmt" -v o="$out" -v a="$t_mcvd" -v b="$t_ff" -v c="$t_rate" 'BEGIN {
      printf "case=blend size=%s format=%s frames_out=%d mcvd_fps=%.0f ffmpeg_framerate_fps=%.0f videorate_fps=%.0f mcvd/ffmpeg=%.2f mcvd/videorate=%.2f\n",
        s, f, o, o/a, o/b, o/c, b/a, c/a }'
  done
done
