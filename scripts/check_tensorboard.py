"""Checks that TensorBoard itself reads FusionLab's event files.

    python scripts/check_tensorboard.py <event file or folder> [...]   # exits 1 if nothing loads
    python scripts/check_tensorboard.py --goldens                      # values pasted into TensorBoardTests.swift

Needs the `tensorboard` package. Event files to check come from a run folder (they sit in it), or from
the Swift tests with FUSIONLAB_TEST_OUTPUT=<dir> swift test --filter TensorBoardTests.
"""
import os
import struct
import sys


def goldens():
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    print("masked_crc32c(b'123456789') =", hex(masked_crc32c(b"123456789")))
    print("masked_crc32c(uint64 LE 24) =", hex(masked_crc32c(struct.pack("<Q", 24))))
    scalar = event_pb2.Event(wall_time=1.5, step=3)
    value = scalar.summary.value.add()
    value.tag, value.simple_value = "loss/train", 0.25
    print("scalar event  =", scalar.SerializeToString().hex())
    header = event_pb2.Event(wall_time=1700000000.25, file_version="brain.Event:2")
    print("header event  =", header.SerializeToString().hex())
    print("negative step =", event_pb2.Event(wall_time=1.0, step=-1).SerializeToString().hex())


def check(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(path, size_guidance={"scalars": 0, "tensors": 0})  # 0 = keep every point
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    print(f"{path}: file_version={accumulator.file_version!r} scalar tags={tags}")
    for tag in tags:
        points = [(e.step, round(e.value, 6)) for e in accumulator.Scalars(tag)]
        print(f"  {tag}: {points}")
    # Text summaries (the Text dashboard): string tensors with the "text" plugin.
    from tensorboard.util import tensor_util
    for tag in accumulator.Tags().get("tensors", []):
        metadata = accumulator.SummaryMetadata(tag)
        if metadata.plugin_data.plugin_name != "text":
            continue
        for e in accumulator.Tensors(tag):
            value = tensor_util.make_ndarray(e.tensor_proto).item()
            print(f"  text {tag} at step {e.step}: {value.decode()[:80]!r}")
    return bool(tags)


if __name__ == "__main__":
    if sys.argv[1:] == ["--goldens"]:
        goldens()
        sys.exit(0)
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ok = True
    for argument in sys.argv[1:]:
        paths = [argument]
        if os.path.isdir(argument):
            paths = sorted(os.path.join(argument, f) for f in os.listdir(argument) if "tfevents" in f)
        for path in paths:
            ok = check(path) and ok
    sys.exit(0 if ok and paths else 1)
