#!/usr/bin/env bash
# Audio conformance: every file in audio-conformance reads with the sample rate, channels,
# frames and per-channel RMS its manifest gives; every expected error is an error naming the
# file. Skips when the folder is absent.
# Usage: scripts/conformance/audio.sh [DIR]   (default: ../shared/datasets/audio-conformance)
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="${1:-../shared/datasets/audio-conformance}"
if [ ! -f "$dir/manifest.json" ]; then echo "audio-conformance: $dir not found, skipping"; exit 0; fi
FUSIONLAB_AUDIO_CONFORMANCE="$(cd "$dir" && pwd)" swift test --filter 'FusionDataTests.AudioTests/testAudioConformance' 2>&1 \
  | grep -E "audio-conformance:|error:|Executed" | sort -u
