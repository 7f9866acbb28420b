"""The training curve of the README: held-out PSNR and Chamfer against training CPU-hours, one line per run.

    python benchmarks/plot_training.py runs/bundled64/generator/log.jsonl:new \\
        runs/classic/log.jsonl:old --out docs/training_curve.png

Each argument is a ``log.jsonl`` that ``triplanenet train-generator --eval-every N``
writes (optionally ``:label``). The x axis is the training CPU time of the record
plus the CPU time of the run's ground-truth cache (``cache_cpu_hours``); the y axes
are the mean same-view PSNR of the held-out heads rendered from their true
parameters and their Chamfer distance (% of the box). Drawn with Pillow (no
plotting dependency); the points are also printed as a table.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import NamedTuple

from PIL import Image, ImageDraw

PANEL_WIDTH, MARGIN, TOP, BOTTOM, RIGHT = 460, 70, 40, 60, 30
SIZE = (3 * MARGIN + 2 * PANEL_WIDTH + RIGHT, 460)
COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189))
TICKS = 5
METRICS = (("psnr", "held-out PSNR (dB, true parameters)"), ("chamfer_percent", "Chamfer (% of the box)"))


class Curve(NamedTuple):
    """One run: its label and the (CPU-hours, metrics) of every evaluation record."""

    label: str
    points: list[tuple[float, dict[str, float]]]


def read_curve(spec: str) -> Curve:
    """``PATH[:LABEL]`` -> the evaluation records of that log (a readable error when there are none)."""
    path, _, label = spec.partition(":")
    log = Path(path)
    if not log.is_file():
        raise SystemExit(f"{log}: no such log (train-generator writes OUT/log.jsonl)")
    points = []
    for line in log.read_text().splitlines():
        record = json.loads(line)
        if "eval" in record:
            evaluation = record["eval"]
            points.append((record["cpu_hours"] + evaluation.get("cache_cpu_hours", 0.0), evaluation))
    if not points:
        raise SystemExit(f"{log} has no evaluation records: train with --eval-every N")
    return Curve(label or log.parent.name, points)


def _range(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    pad = 0.05 * (high - low) or 0.5
    return low - pad, high + pad


def draw_panel(draw: ImageDraw.ImageDraw, left: int, curves: list[Curve], key: str, title: str) -> None:
    """One metric against CPU-hours in the panel whose left edge is ``left`` pixels."""
    width, height = PANEL_WIDTH, SIZE[1] - TOP - BOTTOM
    xs = [x for curve in curves for x, _ in curve.points]
    x0, x1 = 0.0, max(xs) * 1.05 or 1.0
    y0, y1 = _range([m.get(key, math.nan) for curve in curves for _, m in curve.points])

    def to_pixel(x: float, y: float) -> tuple[float, float]:
        return left + (x - x0) / (x1 - x0) * width, TOP + (1 - (y - y0) / (y1 - y0)) * height

    draw.rectangle([left, TOP, left + width, TOP + height], outline="black")
    for i in range(TICKS + 1):
        x, y = x0 + (x1 - x0) * i / TICKS, y0 + (y1 - y0) * i / TICKS
        px, _ = to_pixel(x, y0)
        _, py = to_pixel(x0, y)
        draw.line([px, TOP + height, px, TOP + height + 5], fill="black")
        draw.text((px - 12, TOP + height + 8), f"{x:.2f}", fill="black")
        draw.line([left - 5, py, left, py], fill="black")
        draw.text((left - 45, py - 6), f"{y:.1f}", fill="black")
    draw.text((left + width / 2 - 40, TOP + height + 28), "training CPU-hours", fill="black")
    draw.text((left, TOP - 22), title, fill="black")
    for colour, curve in zip(COLOURS, curves):
        pixels = [to_pixel(x, m[key]) for x, m in curve.points if math.isfinite(m.get(key, math.nan))]
        if len(pixels) > 1:
            draw.line(pixels, fill=colour, width=2)
        for px, py in pixels:
            draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)


def plot(curves: list[Curve], out: Path) -> None:
    image = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(image)
    for index, (key, title) in enumerate(METRICS):
        draw_panel(draw, MARGIN + index * (PANEL_WIDTH + 2 * MARGIN), curves, key, title)
    for index, (colour, curve) in enumerate(zip(COLOURS, curves)):
        y = SIZE[1] - 18
        x = MARGIN + index * 220
        draw.rectangle([x, y, x + 14, y + 8], fill=colour)
        draw.text((x + 20, y - 2), curve.label, fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", help="log.jsonl files, each optionally followed by :label")
    parser.add_argument("--out", default="docs/training_curve.png")
    args = parser.parse_args(argv)
    curves = [read_curve(spec) for spec in args.logs]
    print("| run | CPU-hours | PSNR | PSNR novel | Chamfer % |")
    print("| --- | --- | --- | --- | --- |")
    for curve in curves:
        for x, m in curve.points:
            print(f"| {curve.label} | {x:.3f} | {m['psnr']:.2f} | {m.get('psnr_novel', math.nan):.2f} | "
                  f"{m.get('chamfer_percent', math.nan):.2f} |")
    plot(curves, Path(args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
