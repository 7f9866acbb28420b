"""MTCNN in plain PyTorch, for the five points that define EG3D's crop.

EG3D's FFHQ crop is a least-squares fit to the five points of the ``mtcnn``
package (eye centres, nose tip, mouth corners) with its default settings.
Points derived from 68-point landmarks sit systematically and randomly apart
from those (the crop comes out 2-3 % smaller and lower, with a few percent of
scatter), so to reproduce EG3D's crops we run the same cascade of networks.

The cascade (Zhang et al. 2016): P-Net scans an image pyramid for candidate
windows, R-Net re-scores and refines them at 24x24, O-Net at 48x48 also
regresses the five points. Defaults are the ``mtcnn`` package's: smallest face
20 px, pyramid factor 0.709, thresholds 0.6 / 0.7 / 0.7, non-maximum
suppression 0.5 and 0.7 (union) then 0.7 (min). The network weights are read
from the ``mtcnn`` package's own files (``mtcnn/assets/weights/*.lz4``, joblib
archives of Keras arrays); that package is never imported (it would import
TensorFlow), only its weight files are used.

Detection changes no process-wide setting: it runs on the process's torch threads.
(It used to switch torch to one thread for each call, which also changed the thread
count of every other request's model work in a server while it ran.)

Longer than most modules because MTCNN is three networks and a cascade that only makes sense together.
"""
from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .errors import FaceError

MIN_FACE_SIZE = 20
SCALE_FACTOR = 0.709
THRESHOLDS = (0.6, 0.7, 0.7)
UPRIGHT_ANGLES = (-8.0, -4.0, 0.0, 4.0, 8.0)
UPRIGHT_SCALES = (0.95, 1.0, 1.05)


@dataclass(frozen=True)
class MtcnnFace:
    """One MTCNN detection: ``box`` ``(x0, y0, x1, y1)``, ``score`` and ``points`` [5,2].

    The points are in the detector's order: image-left eye, image-right eye,
    nose, image-left mouth corner, image-right mouth corner. ``window`` is the
    square O-Net looked at, as pixel edges ``(x0, y0, x1, y1)``.
    """

    box: tuple[float, float, float, float]
    score: float
    points: np.ndarray
    window: tuple[float, float, float, float]

    def scaled(self, factor: float) -> "MtcnnFace":
        """The same detection in an image ``factor`` times larger."""
        return MtcnnFace(box=tuple(v * factor for v in self.box), score=self.score,
                         points=(self.points + 0.5) * factor - 0.5, window=tuple(v * factor for v in self.window))


def weights_dir() -> Path | None:
    """The ``mtcnn`` package's weight folder, found without importing the package."""
    spec = importlib.util.find_spec("mtcnn")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "assets" / "weights"
    return folder if all((folder / f"{n}.lz4").is_file() for n in ("pnet", "rnet", "onet")) else None


def _same_max_pool(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Max pooling with TensorFlow's "same" padding (extra padding at the end), which the weights expect."""
    pads = []
    for size in (x.shape[3], x.shape[2]):
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool2d(F.pad(x, pads, value=float("-inf")), kernel, stride)


class _Stage(nn.Module):
    """Convolutions with per-channel PReLU, optional pooling after each, from a Keras weight list."""

    def __init__(self, weights: list[np.ndarray], pools: list[tuple[int, int, str] | None]) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        self.prelus = nn.ParameterList()
        self.pools = pools
        for i in range(len(pools)):
            kernel, bias, alpha = weights[3 * i: 3 * i + 3]
            conv = nn.Conv2d(kernel.shape[2], kernel.shape[3], kernel.shape[:2])
            conv.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
            conv.bias.data = torch.from_numpy(bias)
            self.convs.append(conv)
            self.prelus.append(nn.Parameter(torch.from_numpy(alpha.reshape(-1)), requires_grad=False))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution trunk: conv -> PReLU (-> max pool) per layer."""
        for conv, alpha, pool in zip(self.convs, self.prelus, self.pools):
            x = F.prelu(conv(x), alpha)
            if pool is not None:
                kernel, stride, padding = pool
                if padding == "valid":
                    x = F.max_pool2d(x, kernel, stride)
                elif kernel == stride:
                    x = F.max_pool2d(x, kernel, stride, ceil_mode=True)  # the same as "same" here, without a copy
                else:
                    x = _same_max_pool(x, kernel, stride)
        return x


class PNet(_Stage):
    """Fully convolutional proposal network: face probability and box offsets per 12x12 window (stride 2)."""

    def __init__(self, weights: list[np.ndarray]) -> None:
        super().__init__(weights[:9], [(2, 2, "same"), None, None])
        self.box = self._conv1x1(weights[9], weights[10])
        self.cls = self._conv1x1(weights[11], weights[12])

    @staticmethod
    def _conv1x1(kernel: np.ndarray, bias: np.ndarray) -> nn.Conv2d:
        """A 1x1 convolution holding a Keras kernel (1, 1, in, out) and bias."""
        conv = nn.Conv2d(kernel.shape[2], kernel.shape[3], 1)
        conv.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        conv.bias.data = torch.from_numpy(bias)
        return conv

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Box offsets [N,4,h,w] and face probability [N,h,w] for every 12x12 window."""
        x = self.features(x)
        return self.box(x), torch.softmax(self.cls(x), dim=1)[:, 1]


class _DenseHead(_Stage):
    """R-Net / O-Net: convolutions, then a dense layer (Keras flatten order) with PReLU and linear heads."""

    def __init__(self, weights: list[np.ndarray], pools: list[tuple[int, int, str] | None], heads: int) -> None:
        n = 3 * len(pools)
        super().__init__(weights[:n], pools)
        self.fc = nn.Linear(*weights[n].shape)
        self.fc.weight.data = torch.from_numpy(np.ascontiguousarray(weights[n].T))
        self.fc.bias.data = torch.from_numpy(weights[n + 1])
        self.fc_alpha = nn.Parameter(torch.from_numpy(weights[n + 2]), requires_grad=False)
        self.heads = nn.ModuleList()
        for k in range(heads):
            kernel, bias = weights[n + 3 + 2 * k], weights[n + 4 + 2 * k]
            head = nn.Linear(*kernel.shape)
            head.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.T))
            head.bias.data = torch.from_numpy(bias)
            self.heads.append(head)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The heads' outputs for a batch of windows; the last (classification) as face probability."""
        x = self.features(x)
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)  # Keras: permute (H, W, C) -> (W, H, C), flatten
        x = F.prelu(self.fc(x), self.fc_alpha)
        outputs = [head(x) for head in self.heads]
        outputs[-1] = torch.softmax(outputs[-1], dim=1)[:, 1]
        return outputs


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression (boxes in inclusive pixel coordinates)."""
    x0, y0, x1, y1 = boxes.T
    areas = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]) + 1)
        inter = w * h
        denom = np.minimum(areas[i], areas[rest]) if mode == "min" else areas[i] + areas[rest] - inter
        order = rest[inter / denom <= threshold]
    return np.array(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Boxes grown to squares about their centres."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2:4] = out[:, 0:2] + side[:, None]
    return out


def _regress(boxes: np.ndarray, offsets: np.ndarray, inclusive: bool) -> np.ndarray:
    """Apply box-regression offsets (fractions of the box size)."""
    extra = 1.0 if inclusive else 0.0
    w = boxes[:, 2] - boxes[:, 0] + extra
    h = boxes[:, 3] - boxes[:, 1] + extra
    return boxes + offsets * np.stack([w, h, w, h], axis=1)


class Mtcnn:
    """The three-stage MTCNN detector on CPU; call :meth:`detect` with an RGB uint8 array."""

    def __init__(self) -> None:
        folder = weights_dir()
        if folder is None:
            raise FaceError("MTCNN needs the weight files of the 'mtcnn' package. Install it with: pip install mtcnn")
        import joblib

        def load(name: str) -> list[np.ndarray]:
            """One network's Keras weight arrays, in layer order."""
            return [np.asarray(w, dtype=np.float32) for w in joblib.load(folder / f"{name}.lz4")]

        self.pnet = PNet(load("pnet")).eval()
        self.rnet = _DenseHead(load("rnet"), [(3, 2, "same"), (3, 2, "valid"), None], heads=2).eval()
        self.onet = _DenseHead(load("onet"), [(3, 2, "same"), (3, 2, "valid"), (2, 2, "same"), None],
                               heads=3).eval()

    def detect(self, image: np.ndarray, min_face_size: int = MIN_FACE_SIZE) -> list[MtcnnFace]:
        """All faces in ``image`` [H,W,3] (RGB uint8) with their five points, best score first."""
        with torch.inference_mode():
            return self._detect(image, min_face_size)

    def _detect(self, image: np.ndarray, min_face_size: int) -> list[MtcnnFace]:
        """The three stages in turn (see :meth:`detect`)."""
        tensor = _normalise(Image.fromarray(np.asarray(image, dtype=np.uint8)))
        boxes = self._propose(tensor, min_face_size)
        if len(boxes):
            boxes = self._refine(tensor, boxes)
        if not len(boxes):
            return []
        return self._output(tensor, boxes)

    def _propose(self, tensor: torch.Tensor, min_face_size: int) -> np.ndarray:
        """Stage 1: P-Net over the pyramid -> square candidate boxes [N,5] (x0, y0, x1, y1, score).

        The pyramid levels are made by torch's "area" resampling (averaging over
        integer-aligned bins), as the PyTorch MTCNN port that reproduced EG3D's
        crops best in our measurements does.
        """
        height, width = tensor.shape[2:]
        scale = 12.0 / min_face_size
        side = min(height, width) * scale
        found = []
        while side >= 12:
            size = (math.ceil(height * scale), math.ceil(width * scale))
            offsets, probs = self.pnet(F.interpolate(tensor, size=size, mode="area"))
            probs, offsets = probs[0].numpy(), offsets[0].numpy()
            ys, xs = np.nonzero(probs >= THRESHOLDS[0])
            if ys.size:
                boxes = np.stack([np.fix((2 * xs + 1) / scale), np.fix((2 * ys + 1) / scale),
                                  np.fix((2 * xs + 12) / scale), np.fix((2 * ys + 12) / scale),
                                  probs[ys, xs]], axis=1)
                boxes = np.concatenate([boxes, offsets[:, ys, xs].T], axis=1)
                found.append(boxes[_nms(boxes[:, :4], boxes[:, 4], 0.5)])
            scale *= SCALE_FACTOR
            side *= SCALE_FACTOR
        if not found:
            return np.empty((0, 5))
        boxes = np.concatenate(found)
        boxes = boxes[_nms(boxes[:, :4], boxes[:, 4], 0.7)]
        refined = _regress(boxes[:, :4], boxes[:, 5:9], inclusive=False)
        return np.concatenate([np.fix(_square(refined)), boxes[:, 4:5]], axis=1)

    def _refine(self, tensor: torch.Tensor, boxes: np.ndarray) -> np.ndarray:
        """Stage 2: R-Net at 24x24 re-scores and refines the candidates."""
        offsets, scores = self.rnet(_crops(tensor, boxes, 24))
        scores, offsets = scores.numpy(), offsets.numpy()
        keep = scores > THRESHOLDS[1]
        boxes, scores, offsets = boxes[keep, :4], scores[keep], offsets[keep]
        if not len(boxes):
            return np.empty((0, 5))
        kept = _nms(boxes, scores, 0.7)
        refined = _regress(boxes[kept], offsets[kept], inclusive=True)
        return np.concatenate([np.fix(_square(refined)), scores[kept, None]], axis=1)

    def _output(self, tensor: torch.Tensor, boxes: np.ndarray) -> list[MtcnnFace]:
        """Stage 3: O-Net at 48x48 -> final boxes and five points."""
        offsets, points, scores = self.onet(_crops(tensor, boxes, 48))
        offsets, points, scores = offsets.numpy(), points.numpy(), scores.numpy()
        keep = scores > THRESHOLDS[2]
        boxes, offsets, points, scores = boxes[keep, :4], offsets[keep], points[keep], scores[keep]
        w = boxes[:, 2] - boxes[:, 0] + 1
        h = boxes[:, 3] - boxes[:, 1] + 1
        xs = boxes[:, 0:1] + w[:, None] * points[:, 0:5] - 1
        ys = boxes[:, 1:2] + h[:, None] * points[:, 5:10] - 1
        refined = _regress(boxes, offsets, inclusive=True)
        kept = _nms(refined, scores, 0.7, mode="min")
        windows = np.stack([boxes[:, 0] - 1, boxes[:, 1] - 1, boxes[:, 0] - 1 + w, boxes[:, 1] - 1 + h], axis=1)
        return [MtcnnFace(box=tuple(float(v) for v in refined[i]), score=float(scores[i]),
                          points=np.stack([xs[i], ys[i]], axis=1),
                          window=tuple(float(v) for v in windows[i])) for i in kept]

    def upright_points(self, image: Image.Image, face: MtcnnFace, angles: tuple[float, ...] = UPRIGHT_ANGLES,
                       scales: tuple[float, ...] = UPRIGHT_SCALES) -> np.ndarray:
        """Five points for ``face`` re-measured by O-Net on upright views, averaged; [5,2] in ``image`` pixels.

        O-Net's points move by a few pixels when the same face is shown tilted
        or framed slightly differently, and the EG3D crop magnifies that into
        several percent of scale. Here O-Net sees the face's own window turned
        upright (roll from the eye line) and then tilted by each of ``angles``
        (degrees) at each of ``scales``; the points are mapped back and
        averaged, which makes them nearly independent of the photo's rotation.
        """
        with torch.inference_mode():
            return self._upright_points(image, face, angles, scales)

    def _upright_points(self, image: Image.Image, face: MtcnnFace, angles: tuple[float, ...],
                        scales: tuple[float, ...]) -> np.ndarray:
        """See :meth:`upright_points`."""
        eyes = face.points[1] - face.points[0]
        roll = math.atan2(eyes[1], eyes[0])
        x0, y0, x1, y1 = face.window
        # One antialiased copy of the neighbourhood at ~2x O-Net's resolution; the views are sampled from it.
        zoom = min(1.0, 2 * 48 / (x1 - x0))
        margin = 0.65 * (x1 - x0) * max(scales)
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        region = (math.floor(centre[0] - margin), math.floor(centre[1] - margin),
                  math.ceil(centre[0] + margin), math.ceil(centre[1] + margin))
        size = (max(1, round((region[2] - region[0]) * zoom)), max(1, round((region[3] - region[1]) * zoom)))
        local = image.crop(region).resize(size, Image.Resampling.BOX)
        factor = np.array([size[0] / (region[2] - region[0]), size[1] / (region[3] - region[1])])
        local_centre = (centre - np.array(region[:2])) * factor
        views, frames = [], []
        for angle in angles:
            phi = roll + math.radians(angle)
            rotation = np.array([[math.cos(phi), -math.sin(phi)], [math.sin(phi), math.cos(phi)]])
            for scale in scales:
                side = (x1 - x0) * scale
                pixels = max(48, int(round(side * zoom)))
                corner = local_centre - factor * (rotation @ np.array([side / 2, side / 2]))
                step = factor[:, None] * rotation * (side / pixels)
                view = local.transform((pixels, pixels), Image.Transform.AFFINE,
                                       (step[0, 0], step[0, 1], corner[0], step[1, 0], step[1, 1], corner[1]),
                                       resample=Image.Resampling.BILINEAR)
                views.append(F.interpolate(_normalise(view), size=(48, 48), mode="area"))
                frames.append((centre - rotation @ np.array([side / 2, side / 2]), rotation * side))
        _, points, _ = self.onet(torch.cat(views))
        mapped = [corner + np.stack([p[:5], p[5:]], axis=1) @ axes.T
                  for (corner, axes), p in zip(frames, points.numpy())]
        return np.mean(mapped, axis=0)


def _normalise(picture: Image.Image) -> torch.Tensor:
    """uint8 RGB image -> [1,3,H,W] float tensor scaled as the networks were trained, (x - 127.5) / 128."""
    return (torch.tensor(np.asarray(picture)).permute(2, 0, 1)[None].float() - 127.5) / 128.0


def _crops(tensor: torch.Tensor, boxes: np.ndarray, size: int) -> torch.Tensor:
    """Each box cut from the normalised image, black outside it, resized to ``size`` x ``size``.

    Box bounds are inclusive and 1-based, as the original (MATLAB) cascade and
    the ``mtcnn`` package produce them, so the window starts at pixel ``x0 - 1``.
    Resizing uses torch's "area" mode, like the pyramid.
    """
    height, width = tensor.shape[2:]
    crops = []
    for x0, y0, x1, y1 in (boxes[:, :4].astype(np.int64) - 1).tolist():
        patch = torch.full((1, 3, max(1, y1 - y0 + 1), max(1, x1 - x0 + 1)), -127.5 / 128.0)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1 + 1, width), min(y1 + 1, height)
        if sx1 > sx0 and sy1 > sy0:
            patch[:, :, sy0 - y0: sy1 - y0, sx0 - x0: sx1 - x0] = tensor[:, :, sy0:sy1, sx0:sx1]
        crops.append(F.interpolate(patch, size=(size, size), mode="area"))
    return torch.cat(crops)
