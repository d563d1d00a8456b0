#!/usr/bin/env bash
# Installs the mcvd plugin, the built-in default model and the `mcvd` command under PREFIX (default
# /usr/local), laid out so that the installed plugin and command find the default model outside the build
# tree (README "The default model"):
#   PREFIX/lib/<multiarch>/gstreamer-1.0/libgstmcvd.so
#   PREFIX/share/gst-mcvd/models/default.safetensors          (interpolation; every use without the next)
#   PREFIX/share/gst-mcvd/models/default-predict.safetensors  (prediction's and mcvdsrc's, when installed)
#   PREFIX/bin/mcvd
# usage: tools/install-plugin.sh [PREFIX]
# Builds the release plugin and command first (swift build -c release), unless PLUGIN=<libgstmcvd.so>
# names a plugin already built (then MCVD=<mcvd> installs that command; without it none is installed).
# MODEL=<file> installs that file as the default model (default: the checkout's models/default.safetensors);
# PREDICT_MODEL=<file> as the one for prediction and generation (mode=predict, mcvdsrc; default: without
# MODEL the checkout's models/default-predict.safetensors; with MODEL none, and one an earlier install left
# is removed, so that MODEL answers for every use); NO_MODEL=1 installs no model. The plugin loads the
# Swift runtime of the toolchain that built it
# (RUNPATH /opt/swift/usr/lib/swift/linux); PLUGIN= a -static-stdlib build (README "Tests and benchmarks")
# does without it. PREFIX=/usr puts the plugin in GStreamer's own folder; elsewhere the script prints the
# GST_PLUGIN_PATH to set.
set -euo pipefail
source "$(cd "$(dirname "$0")/.." && pwd)/pipelines/common.sh"
prefix=${1:-/usr/local}
[ $# -le 1 ] || mcvd_die "usage: tools/install-plugin.sh [PREFIX]"

model=${MODEL:-$mcvd_root/models/default.safetensors}
if [ -z "${NO_MODEL:-}" ] && [ ! -f "$model" ]; then
  mcvd_die "no model file $model (the default model ships as models/default.safetensors; set MODEL=FILE, or NO_MODEL=1 to install without one)"
fi
predict_model=${PREDICT_MODEL:-}
[ -n "$predict_model" ] || [ -n "${MODEL:-}" ] || predict_model=$mcvd_root/models/default-predict.safetensors
if [ -z "${NO_MODEL:-}" ] && [ -n "$predict_model" ] && [ ! -f "$predict_model" ]; then
  mcvd_die "no model file $predict_model (the default model for prediction and generation ships as models/default-predict.safetensors; set PREDICT_MODEL=FILE, or NO_MODEL=1 to install without one)"
fi

plugin=${PLUGIN:-}
mcvd=${MCVD:-}
if [ -z "$plugin" ]; then
  mcvd_find_swift
  echo "building the plugin and mcvd (release) ..." >&2
  (cd "$mcvd_root" && swift build -c release --product gstmcvd 2>&1 && swift build -c release --product mcvd 2>&1) | tail -3 >&2
  bin=$(cd "$mcvd_root" && swift build -c release --show-bin-path)
  plugin=$bin/libgstmcvd.so
  mcvd=${mcvd:-$bin/mcvd}
fi
[ -f "$plugin" ] || mcvd_die "no plugin file $plugin"
[ -z "$mcvd" ] || [ -x "$mcvd" ] || mcvd_die "no executable $mcvd"

multiarch=$(gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || true)
plugindir=$prefix/lib${multiarch:+/$multiarch}/gstreamer-1.0
install -D -m 755 "$plugin" "$plugindir/libgstmcvd.so"
echo "plugin: $plugindir/libgstmcvd.so"
if [ -z "${NO_MODEL:-}" ]; then
  install -D -m 644 "$model" "$prefix/share/gst-mcvd/models/default.safetensors"
  echo "default model: $prefix/share/gst-mcvd/models/default.safetensors"
  own=$prefix/share/gst-mcvd/models/default-predict.safetensors
  if [ -n "$predict_model" ]; then
    install -D -m 644 "$predict_model" "$own"
    echo "default model for prediction and generation: $own"
  elif [ -f "$own" ]; then
    rm -f "$own"
    echo "removed $own (an earlier install's): prediction and generation take the default model"
  fi
fi
if [ -n "$mcvd" ]; then
  install -D -m 755 "$mcvd" "$prefix/bin/mcvd"
  echo "command: $prefix/bin/mcvd"
fi
system=$(pkg-config --variable=pluginsdir gstreamer-1.0 2>/dev/null || true)
if [ "$(realpath -m "$plugindir")" != "$(realpath -m "${system:-/nonexistent}")" ]; then
  echo "GStreamer does not search $plugindir by itself: export GST_PLUGIN_PATH=$plugindir"
fi
