#!/usr/bin/env python3
"""Generates "avdigits": a deterministic tri-modal dataset of REAL material, in FusionLab's format.

    python scripts/datasets/make_avdigits.py --out Datasets/avdigits-a --domain a
    python scripts/datasets/make_avdigits.py --out Datasets/avdigits-b --domain b
    python scripts/datasets/make_avdigits.py --out Datasets/avdigits-a --check   # baselines

Each sample is one handwritten digit (the label, "0".."9") seen, heard and partly described:

- image: a scan from scikit-learn's bundled handwritten digits (`sklearn.datasets.load_digits`,
  1797 8x8 images, 17 grey levels 0..16), mapped linearly to 0..255 and upscaled to 28x28 with
  Pillow's BILINEAR filter (in float, then rounded), written as an 8-bit greyscale PNG. Optional
  seeded Gaussian pixel noise (`--image-noise SIGMA`, in 0..255 grey levels, after upscaling).
  Each scan is used once while --samples <= 1797; beyond that they repeat (reshuffled).
- audio: the digit's English word ("zero".."nine") spoken by espeak-ng in one of several
  voice x speed x pitch combinations of the chosen --domain (see DOMAINS below), silence-trimmed
  and resampled to 8 kHz (libsoxr via the `soxr` module, else librosa). Each (voice, speed, pitch,
  word) is synthesised once per run (and kept in an on-disk cache keyed by the espeak-ng version,
  see --cache); every sample then renders its clip afresh, all seeded: a speed perturbation
  (resampling by a factor in 1 +- --audio-warp, tempo and pitch together), a channel tilt
  (y[n] = x[n] + a x[n-1], a in +- --audio-tilt), a gain in 0.5..0.9, a 0..100 ms lead-in, a
  50 ms tail and white noise at an SNR drawn in --audio-snr +- 5 dB (relative to the speech);
  written as mono 16-bit PCM WAV. A sample's combination is drawn at random for its digit,
  independently of its image, and (unless --shared-utterances) from combinations of its own
  split: each word's combinations are divided 70/15/15 like the samples, so no test clip is a
  re-noised copy of an utterance heard in training. Clips are 0.3..1.2 s long (median 0.55): use an
  audio duration of about 1.0 s (the default 0.5 s cuts many).

  Difficulty: espeak-ng is very consistent, so with clean clips (SNR 20 dB, no warp or tilt) a
  logistic regression on mean MFCCs scores 1.00 on domain a's test split, even on unheard
  utterances. The defaults (SNR 5, warp 0.1, tilt 0.8, disjoint utterances) bring it to about
  0.92 on domain a and 0.61 on domain b (seed 0, 1500 samples); images alone score about 0.94,
  captions alone about 0.18 (see --check). --audio-snr 20 --audio-warp 0 --audio-tilt 0 gives
  the clean version.
- text: a caption carrying only PARTIAL information about the label: either its parity
  ("an even digit" / "an odd digit") or its magnitude ("a digit below five" / "a digit of five or
  more"), chosen at random per sample; about 5% of samples have no caption. Vocabulary: a, an,
  below, digit, even, five, more, odd, of, or. A caption alone narrows ten classes to five.

Splits are a seeded stratified 70/15/15 (per label) in each line's "split" field. Everything is
drawn from numpy generators derived from --seed (and --domain for the audio: with one seed the
two domains share images, captions and splits and differ only in their audio), so the same
arguments and the same versions of espeak-ng, libsoxr and Pillow write the same bytes. Files:
DIR/images/sNNNNN.png, DIR/audio/sNNNNN.wav, DIR/provenance.jsonl (per sample: the optdigits
index in load_digits and the espeak-ng voice, speed, pitch and word; not read by FusionLab), then
DIR/samples.jsonl and last DIR/dataset.json (each written to a temporary file and renamed), so a
folder with dataset.json is complete.

Provenance and licenses:
- The digit scans are the test part of the UCI "Optical Recognition of Handwritten Digits" data
  set (optdigits; E. Alpaydin, C. Kaynak, 1998), shipped inside scikit-learn (BSD-3-Clause) and
  licensed by UCI under CC BY 4.0: redistributing derived images needs that attribution.
- The speech is synthesised on this machine by espeak-ng (GPLv3 program and data). The GPL covers
  the program, not its output: the generated audio is not covered by it.
- The captions and everything else are written by this script.

Needs numpy, Pillow, soundfile, scikit-learn and soxr (or librosa) in Python, and the espeak-ng
program (Debian: apt-get install espeak-ng). --check also needs librosa.
"""
import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

LABELS = [str(d) for d in range(10)]
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
RATE = 8000          # rate clips are rendered at (Hz; --rate)
IMAGE_SIZE = 28      # output image side (pixels)

# Voice domains. A voice is "<language>[+<variant>]" as espeak-ng -v takes it; every clip of a
# domain is one of voices x speeds (-s, words per minute) x pitches (-p, 0..99). Domain a is
# plain male English voices at ordinary rates and pitches; domain b is female, whispered and
# croaky variants, a Caribbean and a German-accented reading, at higher pitches and at rates
# either much slower or much faster than a's. Both use only voices espeak-ng itself ships (no
# mbrola), checked against `espeak-ng --voices` at start.
DOMAINS = {
    "a": {
        "voices": ["en-us", "en-gb", "en-gb-scotland", "en-us-nyc+m3", "en-gb-x-rp+m2", "en-us+m7"],
        "speeds": [140, 160, 180],
        "pitches": [30, 45, 60],
    },
    "b": {
        "voices": ["en-us+f2", "en-gb+f4", "en-us+whisperf", "en-gb-x-rp+croak", "en-029+f3", "de+f5"],
        "speeds": [115, 205, 230],
        "pitches": [70, 85, 99],
    },
}

# The two partial facts a caption can state, each as (caption if true, caption if false).
CAPTIONS = {
    "parity": lambda d: "an even digit" if d % 2 == 0 else "an odd digit",
    "magnitude": lambda d: "a digit below five" if d < 5 else "a digit of five or more",
}
NO_CAPTION_RATE = 0.05


def rng_for(seed, stream):
    """An independent numpy generator for one named stream of the seed."""
    key = int.from_bytes(hashlib.sha256(stream.encode()).digest()[:8], "little")
    return np.random.default_rng([seed, key])


def write_atomically(path, data):
    """Writes bytes to a temporary file beside `path`, then renames it into place."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------- speech

def espeak_version():
    try:
        out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        sys.exit(f"make_avdigits: espeak-ng is needed (Debian: apt-get install espeak-ng): {error}")
    return out.strip()


def check_voices(voices):
    """Exits naming any voice whose language or variant espeak-ng does not have (it would
    silently fall back to its default for an unknown variant)."""
    def names(arg, column):
        out = subprocess.run(["espeak-ng", "--voices" + arg], capture_output=True, text=True, check=True).stdout
        found = set()
        for line in out.splitlines()[1:]:
            fields = line.split()
            if len(fields) > column:
                found.add(fields[column])
        return found
    languages = names("", 1)
    variants = {f.split("/", 1)[1] for f in names("=variant", 4) if f.startswith("!v/")}
    missing = []
    for voice in voices:
        language, _, variant = voice.partition("+")
        if language not in languages or (variant and variant not in variants):
            missing.append(voice)
    if missing:
        sys.exit(f"make_avdigits: espeak-ng lacks voice(s) {', '.join(missing)} (see espeak-ng --voices)")


def resample(x, rate_in, rate_out):
    try:
        import soxr
        return soxr.resample(x, rate_in, rate_out, quality="HQ").astype(np.float32)
    except ImportError:
        import librosa
        return librosa.resample(x, orig_sr=rate_in, target_sr=rate_out, res_type="soxr_hq").astype(np.float32)


def trim_silence(x, rate, top_db=40.0, frame=0.01, margin=0.02):
    """x without leading and trailing frames quieter than top_db below its loudest frame."""
    n = max(1, int(rate * frame))
    frames = len(x) // n
    if frames == 0:
        return x
    rms = np.sqrt(np.mean(x[:frames * n].reshape(frames, n).astype(np.float64) ** 2, axis=1))
    loud = np.nonzero(rms > rms.max() * 10 ** (-top_db / 20))[0]
    if len(loud) == 0:
        return x
    pad = int(rate * margin)
    return x[max(0, loud[0] * n - pad):min(len(x), (loud[-1] + 1) * n + pad)]


def synthesise(voice, speed, pitch, word, cache_dir, version_tag):
    """espeak-ng's raw WAV bytes for one combination, from the disk cache when it has them."""
    key = hashlib.sha256(f"{version_tag}|{voice}|{speed}|{pitch}|{word}".encode()).hexdigest()[:24]
    cached = os.path.join(cache_dir, key + ".wav") if cache_dir else None
    if cached and os.path.exists(cached):
        with open(cached, "rb") as f:
            return f.read()
    fd, tmp = tempfile.mkstemp(suffix=".wav")
    os.close(fd)
    try:
        subprocess.run(["espeak-ng", "-w", tmp, "-v", voice, "-s", str(speed), "-p", str(pitch), word],
                       check=True, capture_output=True)
        with open(tmp, "rb") as f:
            data = f.read()
    finally:
        os.unlink(tmp)
    if cached:
        write_atomically(cached, data)
    return data


def clean_clip(wav_bytes):
    """Raw espeak-ng WAV -> silence-trimmed, peak-normalised float32 mono at RATE."""
    import soundfile as sf
    x, rate = sf.read(io.BytesIO(wav_bytes), dtype="float32", always_2d=True)
    x = trim_silence(x.mean(axis=1), rate)
    if rate != RATE:
        x = resample(x, rate, RATE)
    peak = float(np.max(np.abs(x))) or 1.0
    return (x / peak).astype(np.float32)


def render_clip(clean, rng, snr_db, warp, tilt):
    """One noisy rendering of a clean clip: gain 0.5..0.9, lead-in 0..100 ms, 50 ms tail, white
    noise at snr_db +- 5 dB (relative to the clip's RMS over its speech)."""
    if warp > 0:  # speed perturbation: resampling changes tempo and pitch together
        factor = rng.uniform(1 - warp, 1 + warp)
        clean = resample(clean, RATE, int(round(RATE * factor)))
    if tilt > 0:  # channel: a random first-order spectral tilt, y[n] = x[n] + a x[n-1], |a| <= tilt
        a = rng.uniform(-tilt, tilt)
        clean = np.concatenate([clean, [0.0]]).astype(np.float32)
        clean[1:] += a * clean[:-1].copy()
        clean /= float(np.max(np.abs(clean))) or 1.0
    gain = rng.uniform(0.5, 0.9)
    lead = int(rng.integers(0, int(0.1 * RATE) + 1))
    speech = clean * gain
    signal_rms = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2))) or 1e-6
    x = np.concatenate([np.zeros(lead, np.float32), speech, np.zeros(int(0.05 * RATE), np.float32)])
    snr = rng.uniform(snr_db - 5, snr_db + 5)
    x = x + rng.standard_normal(len(x)).astype(np.float32) * signal_rms * 10 ** (-snr / 20)
    return np.clip(x, -1.0, 1.0)


def wav_bytes(x, rate=None):
    import soundfile as sf
    buffer = io.BytesIO()
    sf.write(buffer, x, rate or RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------- images

def render_image(digit8x8, rng, noise_sigma):
    """An 8x8 scan with values 0..16 -> 28x28 8-bit greyscale PNG bytes (bilinear upscale)."""
    from PIL import Image
    grey = Image.fromarray((digit8x8.astype(np.float32) * (255.0 / 16.0)), mode="F")
    big = np.asarray(grey.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR), dtype=np.float32)
    if noise_sigma > 0:
        big = big + rng.standard_normal(big.shape).astype(np.float32) * noise_sigma
    pixels = np.clip(np.rint(big), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------- dataset

def stratified_splits(labels, rng):
    """'train'/'val'/'test' per sample: within each label a shuffled 70/15/15."""
    splits = [None] * len(labels)
    for label in sorted(set(labels)):
        members = [i for i, l in enumerate(labels) if l == label]
        rng.shuffle(members)
        n = len(members)
        n_train, n_val = round(n * 0.70), round(n * 0.15)
        for rank, i in enumerate(members):
            splits[i] = "train" if rank < n_train else ("val" if rank < n_train + n_val else "test")
    return splits


def generate(args):
    from sklearn.datasets import load_digits

    started = time.time()
    domain = DOMAINS[args.domain]
    version = espeak_version()
    check_voices(domain["voices"])
    out = os.path.abspath(args.out)
    for sub in ("images", "audio"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    # A folder being rewritten is not a complete dataset until dataset.json is back.
    if os.path.exists(os.path.join(out, "dataset.json")):
        os.unlink(os.path.join(out, "dataset.json"))
    cache_dir = None if args.cache == "none" else os.path.abspath(args.cache)
    if cache_dir:
        os.makedirs(cache_dir, exist_ok=True)

    digits = load_digits()
    images, targets = digits.images, digits.target
    pick_rng = rng_for(args.seed, "images")
    order = np.concatenate([pick_rng.permutation(len(targets))
                            for _ in range(-(-args.samples // len(targets)))])[:args.samples]
    labels = [int(targets[k]) for k in order]
    splits = stratified_splits(labels, rng_for(args.seed, "splits"))

    # Which combination voices each sample, then synthesise each used combination once.
    # Unless --shared-utterances, each word's combinations are split 70/15/15 too, so a test clip
    # is never a re-noised copy of an utterance heard in training.
    combo_rng = rng_for(args.seed, f"audio-combo-{args.domain}")
    combos = [(v, s, p) for v in domain["voices"] for s in domain["speeds"] for p in domain["pitches"]]
    pools = {}
    for d in range(10):
        if not args.shared_utterances:
            groups = stratified_splits([0] * len(combos), combo_rng)
            pools[d] = {split: [c for c, g in zip(combos, groups) if g == split] for split in ("train", "val", "test")}
        else:
            pools[d] = {split: combos for split in ("train", "val", "test")}
    chosen = []
    for d, split in zip(labels, splits):
        pool = pools[d][split]
        chosen.append(pool[int(combo_rng.integers(len(pool)))] + (WORDS[d],))
    needed = sorted(set(chosen))
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        raw = list(pool.map(lambda c: synthesise(*c, cache_dir, version), needed))
    clean = {c: clean_clip(r) for c, r in zip(needed, raw)}
    synth_seconds = time.time() - started

    file_rates = [int(r) for r in args.file_rates.split(",")] if args.file_rates else []
    image_rng = rng_for(args.seed, "image-noise")
    audio_rng = rng_for(args.seed, f"audio-noise-{args.domain}")
    text_rng = rng_for(args.seed, "captions")
    records, written = [], set()
    for i, (k, label) in enumerate(zip(order, labels)):
        sid = f"s{i:05d}"
        image_rel, audio_rel = f"images/{sid}.png", f"audio/{sid}.wav"
        with open(os.path.join(out, image_rel), "wb") as f:
            f.write(render_image(images[k], image_rng, args.image_noise))
        clip = render_clip(clean[chosen[i]], audio_rng, args.audio_snr, args.audio_warp, args.audio_tilt)
        file_rate = file_rates[i % len(file_rates)] if file_rates else RATE
        if file_rate != RATE:
            clip = np.clip(resample(clip, RATE, file_rate), -1.0, 1.0)
        with open(os.path.join(out, audio_rel), "wb") as f:
            f.write(wav_bytes(clip, file_rate))
        written.update((image_rel, audio_rel))
        record = {"id": sid, "split": splits[i], "label": LABELS[label]}
        if text_rng.random() >= NO_CAPTION_RATE:
            record["text"] = CAPTIONS["parity" if text_rng.random() < 0.5 else "magnitude"](label)
        record["image"], record["audio"] = image_rel, audio_rel
        records.append(record)

    # Files left from an earlier, larger run would not be referenced: remove them.
    for sub, ext in (("images", ".png"), ("audio", ".wav")):
        for name in os.listdir(os.path.join(out, sub)):
            if name.endswith(ext) and f"{sub}/{name}" not in written:
                os.unlink(os.path.join(out, sub, name))

    provenance = "".join(json.dumps({"id": r["id"], "optdigits_index": int(k), "voice": c[0], "speed": c[1],
                                     "pitch": c[2], "word": c[3]}, separators=(",", ":")) + "\n"
                         for r, k, c in zip(records, order, chosen))
    write_atomically(os.path.join(out, "provenance.jsonl"), provenance.encode())
    lines = "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in records)
    write_atomically(os.path.join(out, "samples.jsonl"), lines.encode())
    source = (f"avdigits (scripts/datasets/make_avdigits.py, samples {args.samples}, seed {args.seed}, "
              f"domain {args.domain}, image noise {args.image_noise:g}, audio SNR {args.audio_snr:g} dB): "
              f"images are scikit-learn's handwritten digits (UCI optdigits, Alpaydin & Kaynak 1998, "
              f"CC BY 4.0), 8x8 upscaled bilinearly to 28x28; audio is the digit's English word "
              f"synthesised by {version.split('  ')[0]} with voices {', '.join(domain['voices'])}, "
              f"speeds {domain['speeds']}, pitches {domain['pitches']}, 8 kHz 16-bit, per clip speed warp "
              f"+-{args.audio_warp:g}, tilt +-{args.audio_tilt:g}, white noise, "
              f"{'shared' if args.shared_utterances else 'split-disjoint'} utterances; "
              f"captions state only parity or magnitude (<5 / >=5), ~5% missing")
    info = {"name": os.path.basename(out.rstrip("/")), "task": "classification", "labels": LABELS,
            "samples": "samples.jsonl", "source": source}
    write_atomically(os.path.join(out, "dataset.json"), (json.dumps(info, indent=2) + "\n").encode())

    counts = {s: [0] * 10 for s in ("train", "val", "test")}
    for r in records:
        counts[r["split"]][int(r["label"])] += 1
    print(f"wrote {len(records)} samples to {out} in {time.time() - started:.1f} s "
          f"({len(needed)} clips synthesised or cached in {synth_seconds:.1f} s)")
    for s in ("train", "val", "test"):
        print(f"  {s:5s} {sum(counts[s]):5d}  per label {counts[s]}")
    print(f"  captions: {sum('text' in r for r in records)} of {len(records)}")


# ---------------------------------------------------------------------------------------- check

def check(args):
    """Single-modality baselines: logistic regression on the flattened images, on mean MFCCs,
    and on the caption alone, each trained on train and scored on test."""
    import librosa
    import soundfile as sf
    from PIL import Image
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    root = os.path.abspath(args.out)
    with open(os.path.join(root, "samples.jsonl"), encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    y = np.array([int(r["label"]) for r in records])
    train = np.array([r["split"] == "train" for r in records])
    test = np.array([r["split"] == "test" for r in records])

    def score(name, features, model):
        model.fit(features[train], y[train])
        accuracy = float(np.mean(model.predict(features[test]) == y[test]))
        print(f"  {name:32s} test accuracy {accuracy:.3f}")
        return accuracy

    results = {}
    images = np.stack([np.asarray(Image.open(os.path.join(root, r["image"])), np.float32).ravel() / 255
                       for r in records])
    results["image"] = score("image (28x28 pixels)", images, make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)))

    def mfcc_mean(path):
        x, rate = sf.read(os.path.join(root, path), dtype="float32")
        return librosa.feature.mfcc(y=x, sr=rate, n_mfcc=20, n_fft=256, hop_length=80, n_mels=40).mean(axis=1)
    audio = np.stack([mfcc_mean(r["audio"]) for r in records])
    results["audio"] = score("audio (mean of 20 MFCCs)", audio, make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)))

    vocabulary = sorted({w for r in records for w in r.get("text", "").split()})
    text = np.array([[w in r.get("text", "").split() for w in vocabulary] + ["text" not in r] for r in records], np.float32)
    results["text"] = score("text (bag of words)", text, LogisticRegression(max_iter=3000))
    print(f"  caption vocabulary ({len(vocabulary)}): {' '.join(vocabulary)}")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="dataset folder to write (or to --check)")
    parser.add_argument("--samples", type=int, default=1500, help="number of samples (default 1500)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--domain", choices=sorted(DOMAINS), default="a", help="voice domain (default a)")
    parser.add_argument("--image-noise", type=float, default=0.0, metavar="SIGMA",
                        help="std of Gaussian pixel noise in grey levels 0..255 after upscaling (default 0)")
    parser.add_argument("--audio-snr", type=float, default=5.0, metavar="DB",
                        help="centre of the per-clip white-noise SNR in dB, drawn in +-5 (default 5)")
    parser.add_argument("--audio-warp", type=float, default=0.1, metavar="W",
                        help="per-clip speed perturbation: resample by a factor drawn in 1 +- W (default 0.1)")
    parser.add_argument("--audio-tilt", type=float, default=0.8, metavar="A",
                        help="per-clip channel tilt: filter y[n] = x[n] + a x[n-1] with a drawn in +-A (default 0.8)")
    parser.add_argument("--shared-utterances", action="store_true",
                        help="let all splits draw from the same voice x speed x pitch combinations (default: "
                             "each word's combinations are split 70/15/15 too, so test utterances are unheard)")
    parser.add_argument("--cache", default=os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                                                        "fusionlab", "avdigits-espeak"),
                        help="folder caching espeak-ng's clips across runs, or 'none' (default ~/.cache/fusionlab/avdigits-espeak)")
    parser.add_argument("--check", action="store_true",
                        help="do not generate: print single-modality baselines of the dataset at --out (needs librosa)")
    parser.add_argument("--rate", type=int, default=8000, metavar="HZ",
                        help="rate the clips are rendered at (default 8000; espeak-ng speaks at 22050)")
    parser.add_argument("--file-rates", metavar="HZ,HZ",
                        help="write sample i's clip at the i-th of these rates, cycling (resampled from --rate with "
                             "soxr HQ): a data set whose files come at several rates, e.g. 8000,44100")
    args = parser.parse_args()
    global RATE
    RATE = args.rate
    if args.check:
        check(args)
        return
    if args.samples < 10:
        parser.error("--samples must be at least 10")
    if args.image_noise < 0:
        parser.error("--image-noise must be >= 0")
    generate(args)


if __name__ == "__main__":
    main()
