# Shared by the bench/*.sh scripts (sourced after `repeats` is set, from the checkout's root): builds the
# plugin in release mode, points GStreamer at it with a registry of its own, makes a scratch folder in
# RAM ($work, removed on exit) and defines `best CMD...`: the best-of-$repeats wall time in seconds.
swift build -c release --product gstmcvd >/dev/null
plugin_dir=$(swift build -c release --show-bin-path)
export GST_PLUGIN_PATH=$plugin_dir GST_REGISTRY=${TMPDIR:-/tmp}/mcvd-bench-registry.bin
work=$(mktemp -d /dev/shm/mcvd-bench.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$work"' EXIT

# best-of-N wall time of a command, in seconds
best() {
  local best=""
  for _ in $(seq "$repeats"); do
    local t0 t1
    t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N)
    best=$(echo "$t0 $t1 $best" | awk '{d=$2-$1; if ($3=="" || d<$3) print d; else print $3}')
  done
  echo "$best"
}
