#!/usr/bin/env python3
"""Cuts the embedded CIFAR-10 sample (data/cifar10-sample) from a full binary-layout copy.

  python3 tools/make_sample.py SRC_DIR [OUT_DIR]

SRC_DIR holds data_batch_1..5.bin, test_batch.bin and batches.meta.txt (cifar-10-batches-bin).
Train: the first 200 records of each class in file order (data_batch_1.bin first), 2,000 in
all, kept in that order and split into data_batch_1..5.bin of 400 records each. Test: the
first 50 records of each class of test_batch.bin, 500 in all. Standard library only.
"""
import os
import shutil
import sys

RECORD = 3073


def take(paths, per_class):
    counts = [0] * 10
    out = []
    for p in paths:
        data = open(p, "rb").read()
        assert len(data) % RECORD == 0, f"{p}: not whole records"
        for r in range(len(data) // RECORD):
            rec = data[r * RECORD:(r + 1) * RECORD]
            label = rec[0]
            assert label < 10, f"{p}: record {r} has label {label}"
            if counts[label] < per_class:
                counts[label] += 1
                out.append(rec)
        if all(c == per_class for c in counts):
            break
    assert all(c == per_class for c in counts), f"not enough records per class: {counts}"
    return out


def main():
    src = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "data", "cifar10-sample")
    os.makedirs(out, exist_ok=True)
    train = take([os.path.join(src, f"data_batch_{i}.bin") for i in range(1, 6)], 200)
    for i in range(5):
        with open(os.path.join(out, f"data_batch_{i + 1}.bin"), "wb") as f:
            f.write(b"".join(train[i * 400:(i + 1) * 400]))
    test = take([os.path.join(src, "test_batch.bin")], 50)
    with open(os.path.join(out, "test_batch.bin"), "wb") as f:
        f.write(b"".join(test))
    shutil.copyfile(os.path.join(src, "batches.meta.txt"), os.path.join(out, "batches.meta.txt"))
    print(f"{out}: {len(train)} train + {len(test)} test records")


if __name__ == "__main__":
    main()
