#!/usr/bin/env bash
# Interpolate a video file: any container/codec decodebin reads -> mcvd -> H.264 mp4 at the new rate, with
# the input's audio tracks kept in sync (copied as they are when mp4 takes the codec: AAC, MP3, AC-3,
# E-AC-3, ALAC, MP2, Opus; else encoded to AAC).
# Usage: pipelines/interpolate-file.sh IN OUT [RATE]    RATE: the output frame rate, as 60, 29.97, 60/1 or
#        24000/1001 (default: input rate x 2; needed for a variable-rate input). Env: METHOD=blend|repeat|motion|diffusion (default blend;
#        diffusion when MODEL is set), LOSSLESS=1 for lossless H.264 (qp 0: decoded frames equal mcvd's
#        output, so originals are checkable bit-exact).
#        Diffusion (README "method=diffusion"): MODEL=model.safetensors, STEPS (default: the model's),
#        PROCESSING_SIZE (rows the model runs at; default the element's, 0 = the frame's own size), SEED.
# Example: MODEL=model.safetensors STEPS=1 pipelines/interpolate-file.sh in.mp4 out-2x.mp4
# What appears: OUT, with the same duration as IN and (for 2x) twice its frames. OUT is written to a
# temporary file next to it and renamed at the end, so a failure leaves no OUT and never touches an
# existing one; OUT may not be IN (also through a symlink or hard link). Odd widths/heights get one black
# column/row on the right/bottom (4:2:0 H.264 needs even sizes). Exit status: 0 ok, 1 error, 3 OUT is
# shorter than IN says it is (a truncated input, or decoding stopped early; OUT is kept).
set -euo pipefail
source "$(dirname "$0")/common.sh"
in=${1:?usage: $0 IN OUT [RATE]}; out=${2:?usage: $0 IN OUT [RATE]}; rate=${3:-}
[ -f "$in" ] || mcvd_die "$in: no such file"
if [ "$in" -ef "$out" ] || [ "$(realpath -m -- "$in")" = "$(realpath -m -- "$out")" ]; then
  mcvd_die "OUT ($out) is the input file itself: choose another output name"
fi
[ -d "$(dirname -- "$out")" ] || mcvd_die "$(dirname -- "$out"): no such folder"
[ -n "$rate" ] && rate=$(mcvd_rate "$rate")
method=${METHOD:-blend}; [ -n "${MODEL:-}" ] && method=${METHOD:-diffusion}
props=(method="$method")
if [ -n "${MODEL:-}" ]; then
  [ "$method" = diffusion ] || mcvd_die "MODEL is for METHOD=diffusion (METHOD is $method)"
  [ -f "$MODEL" ] || mcvd_die "MODEL=$MODEL: no such file"
  props+=(model="$(realpath -- "$MODEL")")
fi
for v in STEPS PROCESSING_SIZE SEED; do
  val=${!v:-}; [ -z "$val" ] && continue
  [[ $val =~ ^[0-9]+$ ]] || mcvd_die "$v=$val: a whole number is needed"
  [ "$method" = diffusion ] || mcvd_die "$v is for METHOD=diffusion (METHOD is $method)"
  prop=$(echo "$v" | tr 'A-Z_' 'a-z-'); props+=("$prop=$val")
done
ffprobe -v error "$in" >/dev/null 2>&1 || mcvd_die "$in: not a media file ffprobe can read"
[ -n "$(mcvd_probe "$in" v codec_type)" ] || mcvd_die "$in: no video stream (audio only?)"
mcvd_plugin_env

tmp=$(mktemp "$(dirname -- "$out")/.$(basename -- "$out").XXXXXX")
vtmp="$tmp.video.mp4"
trap 'rm -f "$tmp" "$vtmp"' EXIT
caps=""; [ -n "$rate" ] && caps="! video/x-raw,framerate=$rate"
enc="x264enc speed-preset=faster"; [ "${LOSSLESS:-0}" = 1 ] && enc="x264enc speed-preset=faster pass=quant quantizer=0"
w=$(mcvd_probe "$in" v width); h=$(mcvd_probe "$in" v height)
pad=""; [[ $w =~ ^[0-9]+$ && $h =~ ^[0-9]+$ ]] && [ $((w % 2 + h % 2)) -gt 0 ] && pad="! videobox right=-$((w % 2)) bottom=-$((h % 2)) "
# shellcheck disable=SC2086
if ! log=$(gst-launch-1.0 -q filesrc location="$in" ! decodebin ! videoconvert ! mcvd "${props[@]}" $caps \
      ! videoconvert $pad! videoconvert ! $enc ! mp4mux ! filesink location="$vtmp" 2>&1); then
  if [ -z "$rate" ] && echo "$log" | grep -q "Variable-rate input (framerate=0/1)"; then
    mcvd_die "$in has a variable frame rate: give the output RATE, e.g. $0 $in $out 60"
  fi
  if echo "$log" | grep -qE "not-linked|missing a plug-in"; then
    mcvd_die "$in: GStreamer has no decoder for its video codec ($(mcvd_probe "$in" v codec_name)/$(mcvd_probe "$in" v codec_tag_string)); ffmpeg can convert it first: ffmpeg -i IN -c:v ffv1 -c:a copy OUT.mkv"
  fi
  echo "$log" | grep -E "^ERROR" | grep -v "doesn't want to preroll" | awk '!seen[$0]++' | head -2 >&2
  mcvd_die "$in: the pipeline failed"
fi

# Audio: every audio track of IN next to the new video, copied when mp4 takes its codec.
if [ -n "$(mcvd_probe "$in" a codec_type)" ]; then
  acodec=$(mcvd_probe "$in" a codec_name)
  case $acodec in aac|mp3|ac3|eac3|alac|mp2|opus) aopts=(-c:a copy) ;; *) aopts=(-c:a aac -b:a 192k) ;; esac
  # mp4mux starts the new video at 0; shift it back to where IN's video starts relative to its audio.
  vstart=$(mcvd_probe "$in" v start_time); [[ $vstart =~ ^-?[0-9.]+$ ]] || vstart=0
  newstart=$(mcvd_probe "$vtmp" v start_time); [[ $newstart =~ ^-?[0-9.]+$ ]] || newstart=0
  shift=$(awk -v a="$vstart" -v b="$newstart" 'BEGIN { printf "%.6f", a - b }')
  ffmpeg -nostdin -v error -y -itsoffset "$shift" -i "$vtmp" -i "$in" -map 0:v:0 -map 1:a -c:v copy "${aopts[@]}" -f mp4 "$tmp" \
    || mcvd_die "$in: muxing the audio ($acodec) failed"
  rm -f "$vtmp"
else
  mv -f "$vtmp" "$tmp"
fi
chmod "$(printf "%o" $((0666 & ~0$(umask))))" "$tmp"   # mktemp made it 0600
mv -f "$tmp" "$out"

# Duration check: OUT's video against what IN's video (or container) declares.
want=$(mcvd_video_duration "$in" || true)
got=$(mcvd_probe "$out" v duration)
if [[ $want =~ ^[0-9.]+$ && $got =~ ^[0-9.]+$ ]] && awk -v w="$want" -v g="$got" 'BEGIN { exit !(g < w * 0.97 - 0.1) }'; then
  echo "warning: $out lasts ${got} s but $in declares ${want} s: the input looks truncated or stopped decoding early (output kept)" >&2
  exit 3
fi
