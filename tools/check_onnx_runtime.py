#!/usr/bin/env python3
"""Runs gpunet's exported ONNX models in onnxruntime and compares the logits with gpunet's.

  python3 tools/check_onnx_runtime.py DATA.safetensors MODEL.onnx [MODEL.onnx ...]

DATA.safetensors holds "input" [B, 3, 32, 32] float32 (normalised test images) and "logits"
[B, 10] float32 (gpunet's forward in eval mode). For each model:
  - onnx.checker.check_model(path, full_check=True) must accept it;
  - onnxruntime (CPUExecutionProvider) runs it on the whole batch; a model with a dynamic batch
    also on the first image alone;
  - every logit must be within 1e-4 relative of gpunet's (|ort - gpunet| <= 1e-4 * max(1, |gpunet|),
    i.e. absolute for logits below 1) and the predictions (argmax) the same.
Prints one line per model starting with "OK" and exits 0, or prints the problem and exits 1.
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort
from safetensors.numpy import load_file

TOL = 1e-4


def compare(got, want, what):
    err = np.abs(got.astype(np.float64) - want) / np.maximum(1.0, np.abs(want))
    worst = float(err.max())
    i = np.unravel_index(int(err.argmax()), err.shape)
    same = int((got.argmax(1) == want.argmax(1)).sum())
    if got.shape != want.shape or worst > TOL or same != len(want):
        raise ValueError(f"{what}: worst relative error {worst:.3g} at {tuple(int(k) for k in i)} "
                         f"(onnxruntime {got[i]:.7g}, gpunet {want[i]:.7g}); {same}/{len(want)} predictions equal")
    return worst


def check(path, x, want):
    onnx.checker.check_model(path, full_check=True)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # the unused num_batches_tracked initializers are a warning
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    if inp.name != "input" or out.name != "logits":
        raise ValueError(f"{path}: inputs/outputs are {inp.name}/{out.name}, expected input/logits")
    batch = inp.shape[0]
    worst = compare(sess.run(["logits"], {"input": x})[0], want, path)
    kind = f"batch {batch}"
    if not isinstance(batch, int):
        worst = max(worst, compare(sess.run(["logits"], {"input": x[:1]})[0], want[:1], path + " (1 image)"))
        kind = f"dynamic batch '{batch}' ({len(x)} and 1 images)"
    return f"OK: {path}: {kind}, worst relative error {worst:.2g}, {len(x)}/{len(x)} predictions equal"


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 1
    data = load_file(sys.argv[1])
    x, want = data["input"], data["logits"].astype(np.float64)
    try:
        for path in sys.argv[2:]:
            print(check(path, x, want))
    except Exception as e:  # one line: what failed and where
        print(f"FAIL: {type(e).__name__}: {e}".replace("\n", " "))
        return 1
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
