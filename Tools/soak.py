#!/usr/bin/env python3
"""Memory soak: `loupe report` over 200 images in one process, every method, with its resident
memory sampled every 20 ms. Prints the RSS after warm-up (at 10% of the run), the largest RSS in
the second half, and the growth between them (issue #8 asks for under 10%).

    swift build -c release --product loupe && python3 Tools/soak.py
"""
import os
import shutil
import subprocess
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
LOUPE = os.path.join(ROOT, ".build", "release", "loupe")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main(count=200):
    samples = sorted(f for f in os.listdir(os.path.join(ROOT, "Samples", "fashion")) if f.endswith(".png"))
    with tempfile.TemporaryDirectory() as folder:
        images = []
        for index in range(count):
            path = os.path.join(folder, f"{index:03d}-{samples[index % len(samples)]}")
            shutil.copy(os.path.join(ROOT, "Samples", "fashion", samples[index % len(samples)]), path)
            images.append(path)
        command = [LOUPE, "report", "--model", os.path.join(ROOT, "Models", "fashion-cnn.safetensors"), "--images", *images,
                   "--window", "4", "--stride", "2", "--samples", "20", "--steps", "20", "--layers", "features.1,features.4",
                   "--out", os.path.join(folder, "report")]
        start = time.time()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        series = []
        while process.poll() is None:
            try:
                series.append((time.time() - start, rss_mb(process.pid)))
            except (FileNotFoundError, ProcessLookupError):
                break
            time.sleep(0.02)
        output, error = process.communicate()
        assert process.returncode == 0, error.decode()
        total = time.time() - start
        warm = next(rss for t, rss in series if t >= 0.1 * total)
        late = max(rss for t, rss in series if t >= 0.5 * total)
        size = os.path.getsize(os.path.join(folder, "report", "index.html")) / 1e6
        print(f"{count} images, every method, {total:.1f} s; report {size:.1f} MB")
        print(f"RSS after warm-up (10% of the run): {warm:.1f} MB; largest in the second half: {late:.1f} MB; "
              f"growth {100 * (late - warm) / warm:.1f}%")


if __name__ == "__main__":
    main()
