#!/usr/bin/env bash
# Interpolate a video file: any container/codec decodebin reads -> mcvd -> H.264 mp4 at the new rate.
# Usage: pipelines/interpolate-file.sh IN OUT [RATE]    RATE: an output frame rate like 60/1 or
#        24000/1001 (default: input rate x 2). Env: METHOD=blend|repeat (default blend), LOSSLESS=1 for
#        lossless H.264 (qp 0: decoded frames equal mcvd's output, so originals are checkable bit-exact).
# What appears: OUT, with the same duration as IN and (for 2x) twice its frames; audio is not copied.
set -euo pipefail
in=${1:?usage: $0 IN OUT [RATE]}; out=${2:?usage: $0 IN OUT [RATE]}; rate=${3:-}
here=$(cd "$(dirname "$0")/.." && pwd)
export GST_PLUGIN_PATH=${GST_PLUGIN_PATH:-$(cd "$here" && swift build -c release --show-bin-path)}
[ -f "$GST_PLUGIN_PATH/libgstmcvd.so" ] || (cd "$here" && swift build -c release --product gstmcvd >/dev/null)
caps=""; [ -n "$rate" ] && caps="! video/x-raw,framerate=$rate"
enc="x264enc speed-preset=faster"; [ "${LOSSLESS:-0}" = 1 ] && enc="x264enc speed-preset=faster pass=quant quantizer=0"
# shellcheck disable=SC2086
gst-launch-1.0 -q filesrc location="$in" ! decodebin ! videoconvert ! mcvd method="${METHOD:-blend}" $caps \
  ! videoconvert ! $enc ! mp4mux ! filesink location="$out"
