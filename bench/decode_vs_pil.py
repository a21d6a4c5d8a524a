"""Decode throughput against PIL (Pillow), side by side on the same files.

  /work/venv/bin/python bench/decode_vs_pil.py --gpunet build-cpu/bin/gpunet \
      --decoders build-cpu/bin/bench_image_decoders [--size 64]

1. Per decoder, one thread, files in memory (images/s): for folders of 32x32 and 256x256 photo-like
   images (PIL-written JPEG q90 4:2:0, and PNG), PIL's Image.open(...).convert("RGB") against
   bench_image_decoders --dir (which first validates libjpeg-turbo/libpng against stb_image);
   three alternating rounds, the best of each.
2. The whole decode-once step: `gpunet train --data` (all cores; Resize(S) + CenterCrop(S))
   against torchvision's ImageFolder + Resize(S) + CenterCrop(S) + ToTensor through a
   DataLoader with one worker per core, on 320x240 images (3/4 JPEG, 1/4 PNG). Validation:
   both routes decode the same number of images."""
import argparse, io, os, re, subprocess, sys, tempfile, time

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision import datasets, transforms as T


def photo(rng, w, h, i, c):
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * (c + 1) + yy) % 256, (yy * 2 + i) % 256, (xx + yy * c) % 256], -1).astype(np.float64)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def make_folder(root, n, w, h, ext_of, classes=4):
    rng = np.random.default_rng(0)
    for i in range(n):
        c = i % classes
        d = os.path.join(root, f"class{c}")
        os.makedirs(d, exist_ok=True)
        Image.fromarray(photo(rng, w, h, i, c)).save(os.path.join(d, f"{i}.{ext_of(i)}"), quality=90)


def pil_decode_rate(root, repeat=3):
    files = [os.path.join(dp, f) for dp, _, fs in os.walk(root) for f in fs]
    blobs = [open(f, "rb").read() for f in files]
    best = 1e30
    for _ in range(repeat):
        t0 = time.perf_counter()
        for b in blobs:
            np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))
        best = min(best, time.perf_counter() - t0)
    return len(blobs) / best


def ours_decode_rates(exe, root):
    out = subprocess.run([exe, "--dir", root, "--repeat", "1"], capture_output=True, text=True)
    sys.stdout.write(out.stdout)
    if out.returncode != 0:
        sys.exit(f"{exe}: validation failed\n{out.stderr}")
    rates = re.findall(r"stb_image\s+(\d+) images/s\s+\S+\s+(\d+) images/s", out.stdout)
    return [(float(a), float(b)) for a, b in rates][0]


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
    ap.add_argument("--decoders", required=True, help="build-cpu/bin/bench_image_decoders")
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--shapes", default="32,256", help="image sides of part 1, e.g. 32")
    ap.add_argument("--count", type=int, default=0, help="images per folder in part 1 (default 2000 at 32, 200 at 256)")
    ap.add_argument("--skip-end-to-end", action="store_true", help="part 1 only")
    a = ap.parse_args()
    print(f"Pillow {PIL.__version__}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"{os.cpu_count()} cores")
    print("| images | PIL | stb_image | libjpeg-turbo or libpng | gpunet's decoder / PIL |")
    print("|---|---|---|---|---|")
    rows = []
    for s in (int(v) for v in a.shapes.split(",")):
        n = a.count or (2000 if s <= 64 else 200)
        for ext in ("jpg", "png"):
            with tempfile.TemporaryDirectory() as root:
                make_folder(root, n, s, s, lambda i: ext)
                # Alternating rounds, best of each: a shared machine's load changes from minute to minute.
                stb = ours = pil = 0.0
                for _ in range(3):
                    r = ours_decode_rates(a.decoders, root)
                    stb, ours = max(stb, r[0]), max(ours, r[1])
                    pil = max(pil, pil_decode_rate(root, repeat=1))
                chosen = ours if ext == "jpg" else stb  # decode_image: libjpeg-turbo for JPEG, stb_image for PNG
                rows.append(f"| {n} x {s}x{s} {'JPEG q90' if ext == 'jpg' else 'PNG'} | {pil:.0f} | {stb:.0f} | {ours:.0f} | "
                            f"{chosen / pil:.2f} |")
    print("\n".join(rows))
    if a.skip_end_to_end:
        return 0
    with tempfile.TemporaryDirectory() as root:
        make_folder(root, a.images, 320, 240, lambda i: "png" if i % 4 == 0 else "jpg")
        n_ours, ours = gpunet_rate(a.gpunet, root, a.size)
        n_pil, pil = pil_rate(root, a.size)
        assert n_ours == n_pil == a.images, (n_ours, n_pil)
        print(f"decode-once, {a.images} images 320x240 (3/4 JPEG q90, 1/4 PNG) -> {a.size}x{a.size}, all cores: "
              f"gpunet {ours:.0f} images/s, PIL + torchvision ImageFolder DataLoader({os.cpu_count()} workers) "
              f"{pil:.0f} images/s, ratio {ours / pil:.2f}")


if __name__ == "__main__":
    sys.exit(main())
