#!/usr/bin/env bash
# Batch transcoding: every video in IN_DIR -> OUT_DIR/<name>.mp4 with inserted frames (mcvd), one at a
# time, with progress; a file that fails is reported and the rest go on. Exit status 1 if any failed.
# Usage: pipelines/batch-transcode.sh IN_DIR OUT_DIR [RATE]   (RATE as in interpolate-file.sh)
set -uo pipefail
in_dir=${1:?usage: $0 IN_DIR OUT_DIR [RATE]}; out_dir=${2:?usage: $0 IN_DIR OUT_DIR [RATE]}; rate=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out_dir"
mapfile -t files < <(find "$in_dir" -maxdepth 1 -type f \( -iname '*.mp4' -o -iname '*.mkv' -o -iname '*.avi' \
  -o -iname '*.mov' -o -iname '*.webm' -o -iname '*.ogv' -o -iname '*.mpg' -o -iname '*.mpeg' -o -iname '*.ts' \) | sort)
total=${#files[@]}; ok=0; failed=()
[ "$total" -gt 0 ] || { echo "no video files in $in_dir"; exit 1; }
for i in "${!files[@]}"; do
  f=${files[$i]}; name=$(basename "${f%.*}"); out="$out_dir/$name.mp4"
  printf '[%d/%d] %s ... ' $((i + 1)) "$total" "$(basename "$f")"
  start=$(date +%s)
  if log=$("$here/interpolate-file.sh" "$f" "$out" $rate 2>&1); then
    ok=$((ok + 1)); echo "ok ($(( $(date +%s) - start )) s) -> $out"
  else
    failed+=("$f"); rm -f "$out"; echo "FAILED"
    { echo "$log" | grep -E "^ERROR" || echo "$log" | tail -3; } | head -3 | sed "s/^/    /"
  fi
done
echo "done: $ok of $total converted${failed:+, failed: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
