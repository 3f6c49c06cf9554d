#!/usr/bin/env bash
# Installs the system packages FusionLab builds against, when any is missing.
# Debian/Ubuntu; runs apt-get as root (directly, or through sudo when available).
set -euo pipefail

packages=(pkg-config libcurl4 libopenblas-dev libpng-dev libturbojpeg0-dev libsndfile1-dev libsoxr-dev libavutil-dev libdnnl-dev openmpi-bin libopenmpi-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
