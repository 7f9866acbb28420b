"""Several photos of one person from ../shared/faces, aligned into a dataset for cross-photo identity.

Writes ``OUT/`` with the EG3D crops, ``dataset.json`` and ``people.json`` (file ->
person), ready for::

    python benchmarks/people_dataset.py OUT
    triplanenet evaluate --photos OUT --people OUT/people.json --refine

Photos of one person are few in shared/: the collage of three photos of one actress,
the one pair dlib's descriptor matches among the 64 photos (distance 0.28, checked by
eye), and a politician photographed frontally and in a 60-degree profile (matched by
eye only: dlib does not match a profile). These photos are for evaluation
only, never app examples.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from triplanenet.preprocess import align_face

FACES = Path(__file__).resolve().parents[2] / "shared" / "faces"
PEOPLE = {
    "actress_a": [("3ddfa_emma.jpg", 0), ("3ddfa_emma.jpg", 1), ("3ddfa_emma.jpg", 2)],
    "actress_b": [("e3dge_372.jpg", 0), ("e3dge_443.jpg", 0)],
    "politician": [("3ddfa_trump_hillary.jpg", 0), ("goae_11.jpg", 0)],
}
"""Person -> (photo in shared/faces, face index largest first)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    labels, people = [], {}
    for person, photos in PEOPLE.items():
        for photo, index in photos:
            face = align_face(FACES / photo, face_index=index)
            name = f"{Path(photo).stem}_{index}.png"
            face.image.save(args.out / name)
            labels.append([name, [float(v) for v in face.camera]])
            people[name] = person
    (args.out / "dataset.json").write_text(json.dumps({"labels": labels}))
    (args.out / "people.json").write_text(json.dumps(people, indent=1))
    print(f"wrote {len(labels)} crops of {len(PEOPLE)} people to {args.out}")


if __name__ == "__main__":
    main()
