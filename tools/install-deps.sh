#!/usr/bin/env bash
# Installs what gst-mcvd needs on Debian 12 (as root, or through sudo): GStreamer 1.22 dev packages and
# tools, base/good/bad/ugly/libav plugins (demuxers and decoders, x264enc, mp4mux), OpenBLAS, ffmpeg (ffprobe, benchmarks)
# and python3-imageio (it ships the sample clip the demo uses). Swift itself is expected at /opt/swift.
# The pipelines/ scripts and their tests also use videobox, avimux, matroskamux (good), vorbisenc (base),
# avenc_aac, avenc_mpeg4, avenc_ffv1 (libav) and ffmpeg/ffprobe (audio copy, probing).
set -euo pipefail
packages=(pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
          gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
          gstreamer1.0-libav
          libopenblas-dev ffmpeg python3-imageio)
. "$(dirname "$0")/apt-install.sh"
apt_install "${packages[@]}"
if ! command -v swift >/dev/null; then
  if [ -x /opt/swift/usr/bin/swift ]; then
    echo "note: swift is not on PATH; pipelines/*.sh find it at /opt/swift themselves, but for swift build/test" >&2
    echo "      run: export PATH=/opt/swift/usr/bin:\$PATH" >&2
  else
    echo "error: Swift 6 toolchain not found (expected at /opt/swift)" >&2; exit 1
  fi
fi
