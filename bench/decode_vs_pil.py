"""Decode throughput of an image folder: PIL with torchvision-style loading (ImageFolder +
Resize(S) + CenterCrop(S) + ToTensor through a DataLoader with one worker per core), beside
gpunet's decode-once cache (the "decoded N images in T s" line of `gpunet train --data`).

  /work/venv/bin/python bench/decode_vs_pil.py --gpunet build-cpu/bin/gpunet [--images 2000] [--size 64]

Writes a folder of JPEG and PNG photos-like images (320x240) first, then times both, side by
side, and prints images/s and the ratio. First a validation: both routes decode the same
number of images."""
import argparse, os, re, subprocess, sys, tempfile, time

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import datasets, transforms as T


def make_folder(root, n, classes=4):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:240, 0:320]
    for i in range(n):
        c = i % classes
        d = os.path.join(root, f"class{c}")
        os.makedirs(d, exist_ok=True)
        base = np.stack([(xx * (c + 1) + yy) % 256, (yy * 2 + i) % 256, (xx + yy * c) % 256], -1)
        px = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        ext = "png" if i % 4 == 0 else "jpg"
        Image.fromarray(px).save(os.path.join(d, f"{i}.{ext}"), quality=90)


def pil_rate(root, size):
    ds = datasets.ImageFolder(root, transform=T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor()]))
    dl = torch.utils.data.DataLoader(ds, batch_size=256, num_workers=os.cpu_count(), shuffle=False)
    t0 = time.perf_counter()
    n = sum(x.shape[0] for x, _ in dl)
    return n, n / (time.perf_counter() - t0)


def gpunet_rate(exe, root, size):
    out = subprocess.run([exe, "train", "--data", root, "--image-size", str(size), "--max-steps", "1", "--model", "resnet18",
                          "--device", "cpu", "--val-split", "0.1"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"decoded (\d+) images in ([\d.]+) s \((\d+) images/s\)", out)
    return int(m.group(1)), float(m.group(3))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpunet", required=True)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--size", type=int, default=64)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as root:
        make_folder(root, a.images)
        n_ours, ours = gpunet_rate(a.gpunet, root, a.size)
        n_pil, pil = pil_rate(root, a.size)
        assert n_ours == n_pil == a.images, (n_ours, n_pil)
        print(f"{a.images} images 320x240 (3/4 JPEG q90, 1/4 PNG) -> {a.size}x{a.size}, {os.cpu_count()} cores; "
              f"torch {torch.__version__}, torchvision {torchvision.__version__}")
        print(f"gpunet (stb_image, decode-once cache): {ours:.0f} images/s")
        print(f"PIL + torchvision ImageFolder, DataLoader({os.cpu_count()} workers): {pil:.0f} images/s")
        print(f"ratio gpunet / PIL: {ours / pil:.2f}")


if __name__ == "__main__":
    sys.exit(main())
