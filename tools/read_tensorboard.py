#!/usr/bin/env python3
"""Reads a TensorBoard event file with tensorboard's own reader and prints what it found as JSON.

    read_tensorboard.py EVENTS_FILE
    -> {"tensorboard": "2.21.0", "file_version": 2.0,
        "scalars": {tag: [[step, value], ...]}, "texts": {tag: [[step, text], ...]}, "events": N}

"events" counts what the reader kept (the file-version record, every scalar and every text);
the reader silently drops a record whose checksum is bad, so the caller compares it with the
number of records it wrote. Exit 3 when tensorboard is not installed (the tests skip).
"""
import json
import sys

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    import tensorboard
except ImportError as e:  # the caller skips
    print(f"tensorboard is not installed: {e}")
    sys.exit(3)


def main():
    acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    scalars = {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]}
    texts = {t: [[e.step, b"".join(e.tensor_proto.string_val).decode()] for e in acc.Tensors(t)]
             for t in tags["tensors"]}
    count = (1 if acc.file_version else 0) + sum(map(len, scalars.values())) + sum(map(len, texts.values()))
    print(json.dumps({"tensorboard": tensorboard.__version__, "file_version": acc.file_version,
                      "scalars": scalars, "texts": texts, "events": count}))


if __name__ == "__main__":
    main()
