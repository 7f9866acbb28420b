"""Face detection and 68-point landmarks behind one small interface.

A backend takes an RGB uint8 array and returns every face it finds as a
:class:`DetectedFace` (a box, the 68 iBUG landmarks in that array's pixels,
a confidence). Two backends exist:

* ``"dlib"`` (the offline default): dlib's HOG face detector and its 68-point
  shape predictor (averaged over seven jittered boxes), with dlib's CNN (MMOD)
  detector as a slow second chance when HOG finds nothing and MTCNN is not
  installed to find the face instead. The model files come inside the
  ``face-recognition-models`` package, so it works on a fresh machine with no
  download at all.
* ``"face-alignment"``: Adrian Bulat's FAN with the S3FD detector (the
  ``face-alignment`` package). Its weights download on first use, so ``auto``
  only picks it when they are already in the torch hub cache; asking for it by
  name may download them (unless ``TRIPLANENET_OFFLINE=1`` or
  ``HF_HUB_OFFLINE=1`` is set).

:func:`get_backend` resolves a name (or ``"auto"``) to a loaded backend and
caches it, because loading dlib's predictor takes about half a second.
"""
from __future__ import annotations

import importlib.util
import inspect
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import FaceError

BACKENDS = ("dlib", "face-alignment")
AUTO = "auto"

JITTERS = ((0.0, 0.0, 1.0), (0.05, 0.0, 1.0), (-0.05, 0.0, 1.0), (0.0, 0.05, 1.0), (0.0, -0.05, 1.0),
           (0.0, 0.0, 0.93), (0.0, 0.0, 1.07))
"""Box jitters ``(dx, dy, scale)`` (fractions of the box) whose landmark predictions are averaged."""

DLIB_FALLBACK_MAX_SIDE = 480
"""The CNN fallback detector runs on a copy at most this large: about 0.3 s on CPU, faces down to ~40 px."""


@dataclass(frozen=True)
class DetectedFace:
    """One face: detector ``box`` ``(x0, y0, x1, y1)``, ``landmarks`` [68,2] (pixel centres), ``score``.

    ``mtcnn_points`` holds MTCNN's estimates of EG3D's five alignment points
    ([5,2] each) when MTCNN found this face too; it is empty otherwise.
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float
    mtcnn_points: tuple[np.ndarray, ...] = ()

    @property
    def size(self) -> float:
        """Face size in pixels: the larger side of the landmarks' bounding box."""
        span = self.landmarks.max(axis=0) - self.landmarks.min(axis=0)
        return float(span.max())

    def scaled(self, factor: float) -> "DetectedFace":
        """The same face in an image ``factor`` times larger (pixel-centre convention kept)."""
        def scale(points: np.ndarray) -> np.ndarray:
            """Pixel-centre points scaled about the image's corner."""
            return (points + 0.5) * factor - 0.5

        return replace(self, box=tuple(float(v * factor) for v in self.box), landmarks=scale(self.landmarks),
                       mtcnn_points=tuple(scale(p) for p in self.mtcnn_points))


class LandmarkBackend(Protocol):
    """What every backend provides."""

    name: str

    def detect(self, image: np.ndarray, thorough: bool = True) -> list[DetectedFace]:
        """All faces in an RGB uint8 array [H,W,3], in any order.

        ``thorough=False`` skips slow second-chance detectors; the caller then
        tries :meth:`landmarks_in_boxes` with boxes from another detector.
        """
        ...

    def landmarks_in_boxes(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]
                           ) -> list[DetectedFace]:
        """Landmarks for faces whose boxes ``(x0, y0, x1, y1)`` another detector found."""
        ...


def _package_dir(package: str) -> Path | None:
    """Where an installed package lives, found without importing it (some break on import)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def dlib_model_files() -> dict[str, Path] | None:
    """Paths of dlib's 68-point predictor, MMOD detector and face-recognition ResNet from
    ``face-recognition-models``, if installed.

    That package's own ``__init__`` needs the removed ``pkg_resources`` module,
    so the files are located through the import system instead of importing it.
    """
    root = _package_dir("face_recognition_models")
    if root is None:
        return None
    files = {"predictor": root / "models" / "shape_predictor_68_face_landmarks.dat",
             "cnn_detector": root / "models" / "mmod_human_face_detector.dat",
             "recognition": root / "models" / "dlib_face_recognition_resnet_model_v1.dat"}
    return files if all(path.is_file() for path in files.values()) else None


class DlibBackend:
    """dlib HOG detector (CNN fallback) + 68-point shape predictor, entirely from installed packages."""

    name = "dlib"

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError:
            raise FaceError("The offline face backend needs the 'dlib-bin' package. "
                            "Install it with: pip install dlib-bin face-recognition-models") from None
        files = dlib_model_files()
        if files is None:
            raise FaceError("The offline face backend needs dlib's model files from the "
                            "'face-recognition-models' package. Install it with: pip install face-recognition-models")
        self._dlib = dlib
        self._hog = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(files["predictor"]))
        self._cnn_path = files["cnn_detector"]
        self._cnn = None
        self._lock = threading.Lock()
        """dlib's detectors and predictor are shared by every thread of the process (one backend is cached
        per process) and are not documented as thread-safe: one thread at a time uses them."""

    def detect(self, image: np.ndarray, thorough: bool = True) -> list[DetectedFace]:
        """HOG; if it finds nothing and ``thorough``, the CNN detector.

        ``thorough`` also upsamples images up to 1000 px once for HOG, so faces
        down to ~40 px are found (otherwise ~80 px): without it the caller
        relies on MTCNN, which finds faces down to 20 px, for the small ones.
        """
        upsample = 1 if thorough and max(image.shape[:2]) <= 1000 else 0
        with self._lock:
            rects, scores, _ = self._hog.run(image, upsample, 0.0)
            found = [(r, float(s)) for r, s in zip(rects, scores)]
            if not found and thorough:
                found = self._cnn_detect(image)
            return [self._landmarks(image, rect, score) for rect, score in found]

    def landmarks_in_boxes(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]
                           ) -> list[DetectedFace]:
        """The 68-point predictor started from given boxes (they should be HOG-like: brows to chin)."""
        rects = [self._dlib.rectangle(round(x0), round(y0), round(x1) - 1, round(y1) - 1) for x0, y0, x1, y1 in boxes]
        with self._lock:
            return [self._landmarks(image, rect, 0.0) for rect in rects]

    def _landmarks(self, image: np.ndarray, rect: object, score: float) -> DetectedFace:
        """The shape predictor's mean over ``rect`` and six jittered copies of it (see :data:`JITTERS`).

        dlib's cascade is sensitive to where its box starts: a box a few pixels
        off moves the whole shape, enough to change the pitch by several
        degrees. Averaging over small shifts and scalings removes most of that
        for 7 x ~1 ms.
        """
        left, top, right, bottom = rect.left(), rect.top(), rect.right(), rect.bottom()
        width, height = right - left, bottom - top
        shapes = []
        for dx, dy, scale in JITTERS:
            cx, cy = (left + right) / 2 + dx * width, (top + bottom) / 2 + dy * height
            hw, hh = width * scale / 2, height * scale / 2
            jittered = self._dlib.rectangle(round(cx - hw), round(cy - hh), round(cx + hw), round(cy + hh))
            shapes.append([[p.x, p.y] for p in self._predictor(image, jittered).parts()])
        box = (float(left), float(top), float(right + 1), float(bottom + 1))
        return DetectedFace(box=box, landmarks=np.mean(np.array(shapes, dtype=np.float64), axis=0), score=score)

    def _cnn_detect(self, image: np.ndarray) -> list[tuple[object, float]]:
        """dlib's MMOD CNN detector on a copy at most :data:`DLIB_FALLBACK_MAX_SIDE` large."""
        if self._cnn is None:
            self._cnn = self._dlib.cnn_face_detection_model_v1(str(self._cnn_path))
        factor = min(1.0, DLIB_FALLBACK_MAX_SIDE / max(image.shape[:2]))
        small = image
        if factor < 1.0:
            small = np.asarray(self._resize(image, factor))
        found = []
        for det in self._cnn(small, 1 if factor == 1.0 and max(image.shape[:2]) < 300 else 0):
            r = det.rect
            rect = self._dlib.rectangle(round(r.left() / factor), round(r.top() / factor),
                                        round(r.right() / factor), round(r.bottom() / factor))
            found.append((rect, float(det.confidence)))
        return found

    @staticmethod
    def _resize(image: np.ndarray, factor: float) -> np.ndarray:
        """``image`` scaled by ``factor`` (bilinear)."""
        from PIL import Image

        pil = Image.fromarray(image)
        size = (max(1, round(pil.width * factor)), max(1, round(pil.height * factor)))
        return np.asarray(pil.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))


def face_alignment_weights_cached() -> bool:
    """True if FAN's 2D weights and the S3FD detector weights are already in the torch hub cache."""
    import torch

    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    return any(checkpoints.glob("2DFAN4-*.pth.tar")) and any(checkpoints.glob("s3fd-*.pth"))


def _offline() -> bool:
    """True when the environment forbids downloads (``TRIPLANENET_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``)."""
    return any(os.environ.get(var, "").strip().lower() in ("1", "true", "yes")
               for var in ("TRIPLANENET_OFFLINE", "HF_HUB_OFFLINE"))


class FaceAlignmentBackend:
    """The ``face-alignment`` package's S3FD detector + 2D-FAN landmarks, on the CPU."""

    name = "face-alignment"

    def __init__(self) -> None:
        if importlib.util.find_spec("face_alignment") is None:
            raise FaceError("The 'face-alignment' backend is not installed. "
                            "Install it with: pip install face-alignment (or use --backend dlib).")
        if not face_alignment_weights_cached() and _offline():
            raise FaceError("The 'face-alignment' backend's weights are not in the torch hub cache and "
                            "downloads are disabled (TRIPLANENET_OFFLINE / HF_HUB_OFFLINE). Use --backend dlib.")
        import face_alignment

        types = face_alignment.LandmarksType
        two_d = getattr(types, "TWO_D", None) or getattr(types, "_2D", None)
        kwargs: dict[str, object] = {"device": "cpu", "face_detector": "sfd", "flip_input": False}
        if "compile" in inspect.signature(face_alignment.FaceAlignment).parameters:
            kwargs["compile"] = False
        try:
            self._model = face_alignment.FaceAlignment(two_d, **kwargs)
        except OSError as err:
            raise FaceError(f"Could not load the 'face-alignment' weights ({err}). Use --backend dlib.") from None

    def detect(self, image: np.ndarray, thorough: bool = True) -> list[DetectedFace]:
        """S3FD boxes and FAN landmarks for every face in ``image`` (S3FD has no slower second chance)."""
        return self._run(image, None)

    def landmarks_in_boxes(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]
                           ) -> list[DetectedFace]:
        """FAN landmarks in given boxes."""
        return self._run(image, [np.array([*box, 1.0]) for box in boxes])

    def _run(self, image: np.ndarray, boxes: list[np.ndarray] | None) -> list[DetectedFace]:
        """FAN on ``image``, in the given boxes ``[x0, y0, x1, y1, score]`` or in S3FD's if None."""
        landmarks, _, boxes = self._model.get_landmarks_from_image(image, detected_faces=boxes, return_bboxes=True)
        if not landmarks:
            return []
        faces = []
        for points, box in zip(landmarks, boxes):
            box = np.asarray(box, dtype=np.float64).ravel()
            score = float(box[4]) if box.size > 4 else 1.0
            faces.append(DetectedFace(box=tuple(float(v) for v in box[:4]),
                                      landmarks=np.asarray(points, dtype=np.float64)[:, :2], score=score))
        return faces


_CACHE: dict[str, LandmarkBackend] = {}
_LOADING = threading.Lock()
"""Two threads asking for the first backend at once load it once."""


def resolve_backend_name(name: str = AUTO) -> str:
    """The backend ``name`` stands for: ``"auto"`` is ``face-alignment`` when it is installed and its
    weights are cached (it never downloads), otherwise ``dlib``. The ``TRIPLANENET_FACE_BACKEND``
    environment variable, if set, replaces ``"auto"``."""
    if name == AUTO:
        name = os.environ.get("TRIPLANENET_FACE_BACKEND", AUTO) or AUTO
    if name == AUTO:
        if importlib.util.find_spec("face_alignment") is not None and face_alignment_weights_cached():
            return "face-alignment"
        return "dlib"
    if name not in BACKENDS:
        raise FaceError(f"Unknown face backend {name!r}; choose one of: auto, {', '.join(BACKENDS)}.")
    return name


def get_backend(name: str = AUTO) -> LandmarkBackend:
    """A loaded backend for ``name`` (``"auto"``, ``"dlib"`` or ``"face-alignment"``), cached per process."""
    resolved = resolve_backend_name(name)
    with _LOADING:
        if resolved not in _CACHE:
            _CACHE[resolved] = DlibBackend() if resolved == "dlib" else FaceAlignmentBackend()
    return _CACHE[resolved]
