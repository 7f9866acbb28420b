"""Markdown table of experiments/results/*.json: python experiments/table.py [TAG] (e.g. _s8)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cell(summary: dict, key: str, reproj: bool = False) -> str:
    if key not in summary:
        return "-"
    s = summary[key]
    median, share = (s["reproj_median"], s["reproj_recognised"]) if reproj else (s["median"], s["recognised"])
    return f"{median:.3f} / {100 * share:.0f}%"


def main() -> None:
    tag = sys.argv[1] if len(sys.argv) > 1 else ""
    files = sorted((HERE / "results").glob(f"*{tag}.json"), key=lambda p: p.stat().st_mtime)
    loaded = [json.loads(path.read_text()) for path in files]
    common = set.intersection(*(set(d["seeds"]) for d in loaded if d["seeds"])) if loaded else set()
    print(f"(synthetic columns: mean over the seeds every row has: {sorted(common)})\n")
    print("| variant | photos | same-view ID / rec. | -0.3 | +0.3 | -0.5 | +0.5 | ±0.3 reproj. | seeds | syn same PSNR"
          " | syn PSNR +0.5 | syn PSNR -0.5 | Chamfer % | s/refine (photo, 1 thread, shared) |")
    print("|" + "---|" * 15)
    for data in loaded:
        s = data["summary"]
        rows = [r for r in data["rows_synthetic"] if r["seed"] in common]
        syn = " | ".join(f"{sum(r[k] for r in rows) / len(rows):.2f}" for k in ("same", "psnr+0.5", "psnr-0.5",
                                                                              "chamfer")) if rows else "- | - | - | -"
        print(f"| {data['variant']} | {data['photos']} | {cell(s, '0')} | {cell(s, '-0.3')} | {cell(s, '+0.3')} | "
              f"{cell(s, '-0.5')} | {cell(s, '+0.5')} | {cell(s, '-0.3', True)}, {cell(s, '+0.3', True)} | "
              f"{len(data['seeds'])} | {syn} | {s.get('photo_seconds', float('nan')):.1f} |")


if __name__ == "__main__":
    main()
