"""README rows of the lever table: python experiments/readme_rows.py SEEDS VARIANT=LABEL ... (SEEDS: e.g. 0-3)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def identity(summary: dict, key: str) -> str:
    return f"{summary[key]['median']:.3f} / {100 * summary[key]['recognised']:.0f}%"


def main() -> None:
    first, last = (int(x) for x in sys.argv[1].split("-"))
    seeds = set(range(first, last + 1))
    for item in sys.argv[2:]:
        variant, label = item.split("=", 1)
        data = json.loads((HERE / "results" / f"{variant}_s8.json").read_text())
        s = data["summary"]
        rows = [r for r in data["rows_synthetic"] if r["seed"] in seeds]
        mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("psnr+0.5", "psnr-0.5", "chamfer")}
        print(f"| {label} | {identity(s, '0')} | {identity(s, '-0.3')} | {identity(s, '+0.3')} | "
              f"{identity(s, '-0.5')} | {identity(s, '+0.5')} | {mean['psnr+0.5']:.2f} / {mean['psnr-0.5']:.2f} | "
              f"{mean['chamfer']:.2f}% |")


if __name__ == "__main__":
    main()
