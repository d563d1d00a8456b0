# Sourced by the other scripts in pipelines/: finding Swift and the plugin, reading RATE, probing inputs.
# Env: MCVD_PLUGIN_DIR=<folder with libgstmcvd.so> uses that plugin and builds nothing (tests use it);
#      SWIFT_ROOT (default /opt/swift) is where the toolchain is looked for when swift is not on PATH.
mcvd_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Prints "error: ..." once on stderr and exits 1.
mcvd_die() { echo "error: $*" >&2; exit 1; }

# swift on PATH, else $SWIFT_ROOT/usr/bin (added to PATH), else a clear error.
mcvd_find_swift() {
  command -v swift >/dev/null 2>&1 && return 0
  local root=${SWIFT_ROOT:-/opt/swift}
  [ -x "$root/usr/bin/swift" ] || mcvd_die "Swift 6 toolchain not found: not on PATH and not at $root (install it there, or set SWIFT_ROOT)"
  export PATH="$root/usr/bin:$PATH"
}

# Builds the plugin (release) when it is missing or older than its sources (Package.swift, CShims/ and
# every module of Sources/ but the mcvd command's own: CLI, Training, VideoData), then puts its folder
# first in GST_PLUGIN_PATH (a GST_PLUGIN_PATH the user already has stays after it).
mcvd_plugin_env() {
  local dir=${MCVD_PLUGIN_DIR:-}
  if [ -z "$dir" ]; then
    mcvd_find_swift
    dir=$(cd "$mcvd_root" && swift build -c release --show-bin-path 2>/dev/null) || mcvd_die "swift build --show-bin-path failed in $mcvd_root"
    local lib="$dir/libgstmcvd.so"
    local s=$mcvd_root/Sources newer
    newer=$([ -f "$lib" ] && find "$s" "$mcvd_root/CShims" "$mcvd_root/Package.swift" \( -path "$s/CLI" -o -path "$s/Training" \
      -o -path "$s/VideoData" \) -prune -o -newer "$lib" -print -quit) || true
    if [ ! -f "$lib" ] || [ -n "$newer" ]; then
      echo "building the mcvd plugin (release) ..." >&2
      (cd "$mcvd_root" && swift build -c release --product gstmcvd 2>&1) | tail -3 >&2
      [ -f "$lib" ] || mcvd_die "the plugin build failed (run: swift build -c release --product gstmcvd)"
    fi
  fi
  [ -f "$dir/libgstmcvd.so" ] || mcvd_die "no libgstmcvd.so in $dir"
  export GST_PLUGIN_PATH="$dir${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
}

# A frame rate as GStreamer caps want it: 60 -> 60/1, 29.97 -> 30000/1001 (also 23.976, 59.94, 119.88),
# 12.5 -> 25/2, 60000/1001 as is. Anything else is an error.
mcvd_rate() {
  local r=$1
  case $r in
    23.976|23.98) echo 24000/1001; return ;;
    29.97) echo 30000/1001; return ;;
    47.952|47.95) echo 48000/1001; return ;;
    59.94) echo 60000/1001; return ;;
    119.88) echo 120000/1001; return ;;
  esac
  if [[ $r =~ ^[0-9]+/[0-9]+$ ]]; then
    [ "${r#*/}" -gt 0 ] && [ "${r%/*}" -gt 0 ] || mcvd_die "bad RATE '$r': numerator and denominator must be positive"
    echo "$r"
  elif [[ $r =~ ^[0-9]+$ ]]; then
    [ "$r" -gt 0 ] || mcvd_die "bad RATE '$r': must be positive"
    echo "$r/1"
  elif [[ $r =~ ^([0-9]*)\.([0-9]+)$ ]]; then
    local frac=${BASH_REMATCH[2]} n d
    d=$((10 ** ${#frac})); n=$((10#${BASH_REMATCH[1]:-0} * d + 10#$frac))
    [ "$n" -gt 0 ] || mcvd_die "bad RATE '$r': must be positive"
    local a=$n b=$d t; while [ "$b" -gt 0 ]; do t=$((a % b)); a=$b; b=$t; done
    echo "$((n / a))/$((d / a))"
  else
    mcvd_die "bad RATE '$r': write it as 60, 29.97 or 60000/1001"
  fi
}

# ffprobe one field of the first stream of a kind (v or a) of a file; empty when there is none.
mcvd_probe() { ffprobe -v error -select_streams "$2:0" -show_entries "stream=$3" -of default=nw=1:nk=1 "$1" 2>/dev/null | head -1; }

# The container's duration in seconds (empty when unknown).
mcvd_duration() {
  local d; d=$(ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 "$1" 2>/dev/null | head -1)
  [[ $d =~ ^[0-9.]+$ ]] && echo "$d"
}

# The duration of the first video stream in seconds: the one the file declares (the stream's own, else
# its DURATION tag), else the end of its last packet (Matroska without tags; the container's duration
# may be the audio's), else the container's (empty when unknown).
mcvd_video_duration() {
  local d; d=$(mcvd_probe "$1" v duration)
  [[ $d =~ ^[0-9.]+$ ]] && { echo "$d"; return; }
  d=$(ffprobe -v error -select_streams v:0 -show_entries stream_tags=DURATION -of default=nw=1:nk=1 "$1" 2>/dev/null | head -1)
  if [[ $d =~ ^([0-9]+):([0-9]+):([0-9.]+)$ ]]; then
    awk -v h="${BASH_REMATCH[1]}" -v m="${BASH_REMATCH[2]}" -v s="${BASH_REMATCH[3]}" 'BEGIN { printf "%.6f\n", h * 3600 + m * 60 + s }'
    return
  fi
  d=$(ffprobe -v error -select_streams v:0 -show_entries packet=pts_time,duration_time -of csv=p=0 "$1" 2>/dev/null \
      | awk -F, '$1 ~ /^[0-9.]+$/ { e = $1 + ($2 ~ /^[0-9.]+$/ ? $2 : 0); if (e > m) m = e } END { if (m > 0) printf "%.6f\n", m }')
  [[ $d =~ ^[0-9.]+$ ]] && { echo "$d"; return; }
  mcvd_duration "$1"
}

# Refuses OUT when it is IN itself (also through a symlink or a hard link) or its folder is missing.
mcvd_check_paths() {
  local in=$1 out=$2
  [ -f "$in" ] || mcvd_die "$in: no such file"
  if [ "$in" -ef "$out" ] || [ "$(realpath -m -- "$in")" = "$(realpath -m -- "$out")" ]; then
    mcvd_die "OUT ($out) is the input file itself: choose another output name"
  fi
  [ -d "$(dirname -- "$out")" ] || mcvd_die "$(dirname -- "$out"): no such folder"
}

# IN must be a media file with a video stream.
mcvd_check_video() {
  ffprobe -v error "$1" >/dev/null 2>&1 || mcvd_die "$1: not a media file ffprobe can read"
  [ -n "$(mcvd_probe "$1" v codec_type)" ] || mcvd_die "$1: no video stream (audio only?)"
}

# method=diffusion settings from the environment, appended to the array mcvd_props: MODEL (a file;
# unset = the built-in default model), STEPS, PROCESSING_SIZE, SEED (whole numbers). $1 is the method
# the script runs (the settings are errors for another one).
mcvd_diffusion_props() {
  local method=$1 v val
  if [ -n "${MODEL:-}" ]; then
    [ "$method" = diffusion ] || mcvd_die "MODEL is for METHOD=diffusion (METHOD is $method)"
    [ -f "$MODEL" ] || mcvd_die "MODEL=$MODEL: no such file"
    mcvd_props+=(model="$(realpath -- "$MODEL")")
  fi
  for v in STEPS PROCESSING_SIZE SEED; do
    val=${!v:-}; [ -z "$val" ] && continue
    [[ $val =~ ^[0-9]+$ ]] || mcvd_die "$v=$val: a whole number is needed"
    [ "$method" = diffusion ] || mcvd_die "$v is for METHOD=diffusion (METHOD is $method)"
    mcvd_props+=("$(echo "$v" | tr 'A-Z_' 'a-z-')=$val")
  done
}

# mcvd_to_mp4 IN OUT ELEMENT...: IN -> decodebin -> videoconvert -> ELEMENT... (gst-launch words, e.g.
# mcvd method=motion ! video/x-raw,framerate=60/1) -> H.264 mp4 (LOSSLESS=1: qp 0) with IN's audio tracks
# muxed next to it (copied when mp4 takes the codec: AAC, MP3, AC-3, E-AC-3, ALAC, MP2, Opus; else AAC
# 192 kb/s), both starting where they start in IN. Odd widths/heights get one black column/row (4:2:0
# H.264 needs even sizes). Written to a hidden temporary file next to OUT and renamed when complete: a
# failure leaves no OUT and an existing OUT untouched. The plugin must be set up (mcvd_plugin_env).
mcvd_to_mp4() {
  local in=$1 out=$2; shift 2
  local enc w h pad log acodec vstart newstart shift_s
  mcvd_tmp=$(mktemp "$(dirname -- "$out")/.$(basename -- "$out").XXXXXX")
  mcvd_vtmp="$mcvd_tmp.video.mp4"
  trap 'rm -f "$mcvd_tmp" "$mcvd_vtmp"' EXIT
  local tmp=$mcvd_tmp vtmp=$mcvd_vtmp
  enc="x264enc speed-preset=faster"; [ "${LOSSLESS:-0}" = 1 ] && enc="x264enc speed-preset=faster pass=quant quantizer=0"
  w=$(mcvd_probe "$in" v width); h=$(mcvd_probe "$in" v height)
  pad=""; [[ $w =~ ^[0-9]+$ && $h =~ ^[0-9]+$ ]] && [ $((w % 2 + h % 2)) -gt 0 ] && pad="! videobox right=-$((w % 2)) bottom=-$((h % 2)) "
  # shellcheck disable=SC2086
  if ! log=$(gst-launch-1.0 -q filesrc location="$in" ! decodebin ! videoconvert ! "$@" \
        ! videoconvert $pad! videoconvert ! $enc ! mp4mux ! filesink location="$vtmp" 2>&1); then
    if echo "$log" | grep -q "Variable-rate input (framerate=0/1)"; then
      mcvd_die "$in has a variable frame rate: give the output RATE, e.g. ${mcvd_rate_hint:-RATE=60}"
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
    local aopts
    case $acodec in aac|mp3|ac3|eac3|alac|mp2|opus) aopts=(-c:a copy) ;; *) aopts=(-c:a aac -b:a 192k) ;; esac
    # mp4mux starts the new video at 0; shift it back to where IN's video starts relative to its audio.
    vstart=$(mcvd_probe "$in" v start_time); [[ $vstart =~ ^-?[0-9.]+$ ]] || vstart=0
    newstart=$(mcvd_probe "$vtmp" v start_time); [[ $newstart =~ ^-?[0-9.]+$ ]] || newstart=0
    shift_s=$(awk -v a="$vstart" -v b="$newstart" 'BEGIN { printf "%.6f", a - b }')
    ffmpeg -nostdin -v error -y -itsoffset "$shift_s" -i "$vtmp" -i "$in" -map 0:v:0 -map 1:a -c:v copy "${aopts[@]}" -f mp4 "$tmp" \
      || mcvd_die "$in: muxing the audio ($acodec) failed"
    rm -f "$vtmp"
  else
    mv -f "$vtmp" "$tmp"
  fi
  chmod "$(printf "%o" $((0666 & ~0$(umask))))" "$tmp"   # mktemp made it 0600
  mv -f "$tmp" "$out"
  trap - EXIT
}

# mcvd_check_duration IN OUT [EXTRA]: OUT's video against the duration IN's video declares plus EXTRA
# seconds; more than 3% (+0.1 s) shorter: a warning and exit status 3 (OUT is kept).
mcvd_check_duration() {
  local in=$1 out=$2 extra=${3:-0} want got
  want=$(mcvd_video_duration "$in" || true)
  got=$(mcvd_probe "$out" v duration)
  if [[ $want =~ ^[0-9.]+$ && $got =~ ^[0-9.]+$ ]]; then
    local what="$in declares ${want} s"
    if [ "$extra" != 0 ]; then
      want=$(awk -v w="$want" -v e="$extra" 'BEGIN { printf "%.6f", w + e }'); what="$what, ${want} s with the added frames"
    fi
    if awk -v w="$want" -v g="$got" 'BEGIN { exit !(g < w * 0.97 - 0.1) }'; then
      echo "warning: $out lasts ${got} s but $what: the input looks truncated or stopped decoding early (output kept)" >&2
      exit 3
    fi
  fi
}
