"""Reading an aligned dataset: the folder ``triplanenet align PHOTOS --dataset DIR`` writes.

Training (real photos) and evaluation (``evaluate --photos``) both read it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

Batch = dict[str, torch.Tensor]


class FolderDataset:
    """The folder ``triplanenet align PHOTOS --dataset DIR`` writes: crops + ``dataset.json``.

    ``dataset.json`` is ``{"labels": [[file, camera25], ...]}`` (EG3D's format, files
    relative to the folder). Images are resized to ``resolution`` (default: as stored).
    """

    def __init__(self, root: str | Path, resolution: int | None = None) -> None:
        self.root = Path(root)
        labels = json.loads((self.root / "dataset.json").read_text())["labels"]
        if not labels:
            raise ValueError(f"{self.root / 'dataset.json'} lists no images")
        self.files = [str(name) for name, _ in labels]
        self.cameras = torch.tensor([camera for _, camera in labels], dtype=torch.float32).reshape(-1, 25)
        self.resolution = resolution

    def __len__(self) -> int:
        return len(self.files)

    def image(self, index: int) -> torch.Tensor:
        """Image ``index`` as [3,R,R] in [-1, 1]."""
        with Image.open(self.root / self.files[index]) as im:
            im = im.convert("RGB")
            if self.resolution and im.size != (self.resolution, self.resolution):
                im = im.resize((self.resolution, self.resolution), Image.Resampling.LANCZOS)
            array = np.asarray(im, dtype=np.float32)
        return torch.from_numpy(array).permute(2, 0, 1) / 127.5 - 1

    def batch(self, indices: list[int]) -> Batch:
        """``image`` [B,3,R,R], ``camera`` [B,25]."""
        return {"image": torch.stack([self.image(i) for i in indices]), "camera": self.cameras[indices]}
