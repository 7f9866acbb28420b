"""Write a contact sheet of synthetic heads: ``python -m triplanenet.synthetic OUT.png [--resolution 256]``."""
from __future__ import annotations

import argparse

from .preview import contact_sheet

SEEDS = [60, 1, 68, 12, 11, 25, 73, 22]
YAWS = [0.0, 0.4, -0.4, 0.0, -0.4, 0.0, 0.4, 0.0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", help="PNG file to write")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--seeds", type=int, nargs=8, default=SEEDS)
    args = parser.parse_args()
    from PIL import Image  # only this script needs Pillow
    sheet = contact_sheet(args.seeds, YAWS, args.resolution)
    Image.fromarray(sheet.numpy()).save(args.out, optimize=True)


if __name__ == "__main__":
    main()
