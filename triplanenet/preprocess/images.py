"""Robust loading of the photos people really upload, as plain 8-bit RGB.

Uploads come as JPEG/PNG/WebP/BMP/GIF/TIFF files, raw bytes, PIL images or
arrays; they can be rotated by an EXIF tag (phone photos), transparent (RGBA,
palette with transparency), grayscale, CMYK, 16-bit, animated, truncated, not an
image at all, or a "decompression bomb" (a tiny file that expands to billions of
pixels). :func:`load_image` turns every one of those into an upright RGB image
or raises :class:`~triplanenet.preprocess.errors.FaceError` with a readable
message; it never lets a decoder exception through.
"""
from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import FaceError

ImageSource = Union[str, Path, bytes, bytearray, memoryview, BinaryIO, Image.Image, np.ndarray]

MAX_PIXELS = 160_000_000
"""Largest image (width x height) we agree to decode: about 12,600 x 12,600.

That admits every phone and DSLR photo (108 MP sensors included) while refusing
files crafted to exhaust memory when decoded. PIL's own guard (which errors at
about 179 MP) is kept as a second line.
"""

BACKGROUND = (255, 255, 255)
"""Transparent pixels are composited on white, like a browser shows them."""

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError)


def load_image(source: ImageSource, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open ``source`` and return it as an upright 8-bit RGB PIL image.

    ``source`` is a path, encoded bytes, a binary file object, a PIL image or a
    numpy array (HxW, HxWx1, HxWx3 or HxWx4; uint8, uint16 or float in [0, 1]).
    The first frame of an animation is used; the EXIF orientation is applied;
    transparency is composited on white; 16-bit data is scaled (not clipped) to
    8 bits. Raises :class:`FaceError` if the data is not a readable image or has
    more than ``max_pixels`` pixels.
    """
    if isinstance(source, np.ndarray):
        image = _from_array(source)
        _check_size(image.size, max_pixels)
        return image
    if isinstance(source, Image.Image):
        _check_size(source.size, max_pixels)
        return _normalise(source)
    return _normalise(_open(source, max_pixels))


def _open(source: ImageSource, max_pixels: int) -> Image.Image:
    """Decode an encoded image from a path, bytes or file object (first frame, fully loaded)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise FaceError("The uploaded file is empty. Choose a photo file (JPEG, PNG, WebP, BMP or GIF).")
        stream: BinaryIO = io.BytesIO(bytes(source))
        name = "The uploaded data"
    elif isinstance(source, (str, Path)):
        path = check_file(Path(source), "photo", "JPEG, PNG, WebP, BMP or GIF")
        stream = path.open("rb")
        name = path.name
    else:
        stream = source
        name = "The uploaded data"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream)
            _check_size(image.size, max_pixels)
            image.seek(0)
            image.load()
    except FaceError:
        raise
    except Image.DecompressionBombError:
        raise FaceError(f"{name} is larger than the {max_pixels / 1e6:.0f}-megapixel limit that protects against "
                        "decompression-bomb files. Resize the photo and try again.") from None
    except UnidentifiedImageError:
        raise FaceError(f"{name} is not an image this program can read. "
                        "Use a JPEG, PNG, WebP, BMP, GIF or TIFF photo.") from None
    except _DECODE_ERRORS as err:
        raise FaceError(f"{name} could not be decoded; the file looks corrupt or truncated ({err}). "
                        "Export or download the photo again.") from None
    finally:
        if isinstance(source, (str, Path)):
            stream.close()
    return image


def check_file(path: Path, kind: str, formats: str, error: type[FaceError] = FaceError) -> Path:
    """``path`` if it is a non-empty file; else ``error`` naming the ``kind`` of file expected (``"photo"``,
    ``"video"``) and its ``formats``."""
    if not path.exists():
        raise error(f"No such file: {path}. Check the path and try again.")
    if path.is_dir():
        raise error(f"{path} is a folder, not a {kind}. Give the path of one {kind} file.")
    if path.stat().st_size == 0:
        raise error(f"{path.name} is empty (0 bytes). Choose a {kind} file ({formats}).")
    return path


def _check_size(size: tuple[int, int], max_pixels: int) -> None:
    """Refuse images whose pixel count exceeds ``max_pixels`` (or has a zero side)."""
    width, height = size
    if width <= 0 or height <= 0:
        raise FaceError(f"The image has no pixels ({width}x{height}). Choose another photo.")
    if width * height > max_pixels:
        raise FaceError(
            f"The image is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), more than the "
            f"{max_pixels / 1e6:.0f}-megapixel limit that protects against decompression-bomb files. "
            "Resize the photo and try again.")


def _normalise(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation and convert any PIL mode to 8-bit RGB."""
    try:
        image = ImageOps.exif_transpose(image) or image
    except _DECODE_ERRORS:
        pass  # A malformed EXIF block only loses the rotation hint; the pixels are still good.
    mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        return _composite(image.convert("RGBA"))
    if mode.startswith("I") or mode == "F":
        return _from_array(np.asarray(image))
    if mode == "RGB":
        return image
    try:
        return image.convert("RGB")
    except ValueError:
        raise FaceError(f"The image uses the {mode} colour mode, which cannot be converted to RGB. "
                        "Save it as an ordinary RGB JPEG or PNG.") from None


def _composite(rgba: Image.Image) -> Image.Image:
    """Flatten an RGBA image onto :data:`BACKGROUND`."""
    background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _from_array(array: np.ndarray) -> Image.Image:
    """An RGB image from an HxW / HxWxC array of uint8, 16-bit integers or floats."""
    data = np.asarray(array)
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    if data.ndim not in (2, 3) or (data.ndim == 3 and data.shape[2] not in (3, 4)) or data.size == 0:
        raise FaceError(f"An image array must be HxW, HxWx3 or HxWx4; got shape {tuple(data.shape)}.")
    data = _to_uint8(data)
    if data.ndim == 2:
        return Image.fromarray(data).convert("RGB")
    if data.shape[2] == 4:
        return _composite(Image.fromarray(data, "RGBA"))
    return Image.fromarray(data, "RGB")


def _to_uint8(data: np.ndarray) -> np.ndarray:
    """Scale integer or float pixel data to uint8 without clipping 16-bit ranges."""
    if data.dtype == np.uint8:
        return np.ascontiguousarray(data)
    if data.dtype == np.bool_:
        return data.astype(np.uint8) * 255
    values = data.astype(np.float64)
    if not np.all(np.isfinite(values)):
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    if np.issubdtype(data.dtype, np.floating):
        scale = 255.0 if values.max(initial=0.0) <= 1.0 else 1.0
    elif values.max(initial=0.0) > 255:
        scale = 255.0 / 65535.0
    else:
        scale = 1.0
    return np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)


def downscaled(image: Image.Image, max_side: int) -> tuple[Image.Image, float]:
    """``image`` shrunk so its longer side is at most ``max_side``, and the factor applied (<= 1).

    Detectors and landmarkers gain nothing from 50-megapixel input but pay for it
    in time and memory, so they work on this copy and their coordinates are
    divided by the factor to get back to the photo.
    """
    longest = max(image.size)
    if longest <= max_side:
        return image, 1.0
    factor = max_side / longest
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0), factor
