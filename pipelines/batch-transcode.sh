#!/usr/bin/env bash
# Batch transcoding: every video in IN_DIR -> OUT_DIR/<name>.mp4 with inserted frames (mcvd) and the audio
# kept (interpolate-file.sh), one at a time, with progress; a file that fails is reported and the rest go
# on. Exit status 1 if any failed or came out short.
# Usage: pipelines/batch-transcode.sh IN_DIR OUT_DIR [RATE]   (RATE as in interpolate-file.sh)
# Output names are unique: <name>.mp4, or <name>.<ext>.mp4 when two inputs share a name (clip.mov and
# clip.mp4) or when <name>.mp4 is an input itself (OUT_DIR = IN_DIR); inputs are never written over.
set -uo pipefail
source "$(dirname "$0")/common.sh"
in_dir=${1:?usage: $0 IN_DIR OUT_DIR [RATE]}; out_dir=${2:?usage: $0 IN_DIR OUT_DIR [RATE]}; rate=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
[ -d "$in_dir" ] || mcvd_die "$in_dir: no such folder"
[ -n "$rate" ] && { rate=$(mcvd_rate "$rate") || exit 1; }
mkdir -p "$out_dir"
mapfile -t files < <(find "$in_dir" -maxdepth 1 -type f \( -iname '*.mp4' -o -iname '*.mkv' -o -iname '*.avi' \
  -o -iname '*.mov' -o -iname '*.webm' -o -iname '*.ogv' -o -iname '*.mpg' -o -iname '*.mpeg' -o -iname '*.ts' \) | sort)
total=${#files[@]}; ok=0; failed=()
[ "$total" -gt 0 ] || mcvd_die "no video files in $in_dir"
(mcvd_plugin_env) || exit 1   # build once, before the loop
declare -A taken=()
for f in "${files[@]}"; do taken[$(realpath -m -- "$f")]=input; done
unique_out() {  # unique_out FILE -> a path in out_dir that is neither an input nor another output
  local f=$1 name ext cand n=2
  name=$(basename -- "${f%.*}"); ext=${f##*.}
  for cand in "$out_dir/$name.mp4" "$out_dir/$name.$ext.mp4"; do
    [ -z "${taken[$(realpath -m -- "$cand")]:-}" ] && { echo "$cand"; return; }
  done
  while [ -n "${taken[$(realpath -m -- "$out_dir/$name.$ext-$n.mp4")]:-}" ]; do n=$((n + 1)); done
  echo "$out_dir/$name.$ext-$n.mp4"
}
for i in "${!files[@]}"; do
  f=${files[$i]}; out=$(unique_out "$f"); taken[$(realpath -m -- "$out")]=output
  printf '[%d/%d] %s ... ' $((i + 1)) "$total" "$(basename "$f")"
  start=$(date +%s)
  log=$("$here/interpolate-file.sh" "$f" "$out" $rate 2>&1); status=$?
  if [ $status -eq 0 ]; then
    ok=$((ok + 1)); echo "ok ($(( $(date +%s) - start )) s) -> $out"
  elif [ $status -eq 3 ]; then
    failed+=("$f"); echo "SHORT -> $out"
    echo "$log" | grep -E "^warning" | sed "s/^/    /"
  else
    failed+=("$f"); echo "FAILED"
    { echo "$log" | grep -E "^ERROR|^error" || echo "$log" | tail -3; } | awk '!seen[$0]++' | head -3 | sed "s/^/    /"
  fi
done
echo "done: $ok of $total converted${failed:+, failed or short: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
