#!/usr/bin/env bash
# Audio conformance: every file in audio-conformance reads with the sample rate, channels,
# frames and per-channel RMS its manifest gives; every expected error is an error naming the
# file. Skips when the folder is absent.
# Usage: scripts/conformance/audio.sh [DIR]   (default: $FUSIONLAB_AUDIO_CONFORMANCE)
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="${1:-${FUSIONLAB_AUDIO_CONFORMANCE:-}}"
if [ -z "$dir" ] || [ ! -f "$dir/manifest.json" ]; then echo "audio-conformance: no folder (give one, or set FUSIONLAB_AUDIO_CONFORMANCE), skipping"; exit 0; fi
FUSIONLAB_AUDIO_CONFORMANCE="$(cd "$dir" && pwd)" swift test --filter 'FusionMediaTests.AudioTests/testAudioConformance' 2>&1 \
  | grep -E "audio-conformance:|error:|Executed" | sort -u
