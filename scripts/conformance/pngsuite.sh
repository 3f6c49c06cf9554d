#!/usr/bin/env bash
# PngSuite conformance: every valid image decodes to Pillow's pixels (manifest.json's
# pillow_rgba8_sha256), every corrupt x*.png gives an error. Skips when the folder is absent.
# Usage: scripts/conformance/pngsuite.sh [PNGSUITE_DIR]   (default: $FUSIONLAB_PNGSUITE)
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="${1:-${FUSIONLAB_PNGSUITE:-}}"
if [ -z "$dir" ] || [ ! -f "$dir/manifest.json" ]; then echo "pngsuite: no PngSuite folder (give one, or set FUSIONLAB_PNGSUITE), skipping"; exit 0; fi
FUSIONLAB_PNGSUITE="$(cd "$dir" && pwd)" swift test --filter 'FusionMediaTests.PNGTests/testPngSuiteConformance' 2>&1 \
  | grep -E "pngsuite:|error:|Executed" | sort -u
