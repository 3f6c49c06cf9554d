#!/usr/bin/env python3
"""Sound embeddings of real sound effects from aiSFX 0.1.2's own pipeline, for the
`sound_embedding` preset: Tests/FusionModelsTests/Golden/sound_embedding.json and the clips it was
computed on (sound_*.wav: Kenney's game sound effects, CC0, as the `arcade` wheel ships them in
arcade/resources/assets/sounds/).

aiSFX's pipeline (aisfx/inference.py with its default spectrogram_type="essentia", the front end
its model was trained with): aisfx/spectrogram/spectrogram_essentia.py's compute_spectrogram (Essentia
EasyLoader at 44.1 kHz, FrameCutter 2048/1024, Windowing hann, Spectrum, MelBands 96 htkMel
unit_sum power 0–22050 Hz, log10(1e4 x + 1)), spectrogram_normalize "original" (/ 9.457798957824707),
blocking into 100-frame blocks (a shorter clip is zero-padded to one block), then
EmbeddingNet('max', 3, 1, 64) from aisfx/models/cnn2d.py with the checkpoint's embedding_net weights.

    pip download --no-deps aisfx==0.1.2 arcade==3.3.3 && unzip both wheels
    pip install --target ESSENTIA_DIR essentia      # the manylinux wheel
    PYTHONPATH=ESSENTIA_DIR /work/venv/bin/python scripts/golden/sound_embedding_goldens.py AISFX_DIR ARCADE_SOUNDS_DIR
(AISFX_DIR: the unpacked wheel's aisfx/ folder; the venv needs torch and numpy.)
"""
import importlib.util
import json
import os
import shutil
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "FusionModelsTests", "Golden")
CLIPS = ["coin1", "upgrade1", "gameover1"]


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    aisfx, sounds = sys.argv[1], sys.argv[2]
    front = load("spectrogram_essentia", os.path.join(aisfx, "spectrogram", "spectrogram_essentia.py"))
    pre = load("aisfx_preprocessing", os.path.join(aisfx, "preprocessing.py"))
    cnn = load("aisfx_cnn2d", os.path.join(aisfx, "models", "cnn2d.py"))
    weights, _datasets = torch.load(os.path.join(aisfx, "models", "checkpoint.pth"), map_location="cpu", weights_only=False)
    net = cnn.EmbeddingNet("max", 3, 1, 64)
    net.load_state_dict({k[len("embedding_net."):]: v for k, v in weights.items() if k.startswith("embedding_net.")})
    net.eval()
    cases = []
    for clip in CLIPS:
        name = f"sound_{clip}.wav"
        shutil.copyfile(os.path.join(sounds, clip + ".wav"), os.path.join(OUT, name))
        path = os.path.join(OUT, name)
        spec = front.compute_spectrogram(filename=path, sr=44100.0, block_size=2048, hop_size=1024, n_mels=96, f_min=0.0, f_max=22050.0)
        spec = pre.spectrogram_normalize(spec, spec_norm="original")
        blocks = pre.blocking(spec, block_size=100, hop_size=50, drop_partial_block=True)
        with torch.no_grad():
            embedding = net(torch.tensor(blocks, dtype=torch.float32)).numpy()
        import soundfile as sf
        samples = sf.info(path).frames
        cases.append({"file": name, "samples": int(samples), "frames": int(spec.shape[0]), "blocks": int(blocks.shape[0]),
                      # [frames, 96] as aiSFX computes it (the preset's features are its transpose)
                      "log_mel": [[round(float(v), 6) for v in row] for row in spec],
                      "embedding": [round(float(v), 6) for v in embedding[0]]})
        print(name, samples, "samples,", spec.shape[0], "frames,", blocks.shape[0], "block(s)")
    import essentia
    with open(os.path.join(OUT, "sound_embedding.json"), "w") as f:
        json.dump({"torch": torch.__version__, "essentia": essentia.__version__,
                   "source": "aisfx 0.1.2: spectrogram_essentia.compute_spectrogram, spectrogram_normalize('original'), blocking(100, 50), "
                             "EmbeddingNet('max', 3, 1, 64) with models/checkpoint.pth",
                   "cases": cases}, f)


if __name__ == "__main__":
    main()
