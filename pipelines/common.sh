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
