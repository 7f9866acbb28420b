"""Face preprocessing on the files people really upload: every format and every kind of broken input.

All files are built in a temporary folder from scikit-image's public-domain
astronaut photo; none of them is shipped.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from triplanenet.preprocess import FaceError, align_face, load_image

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the astronaut test photo")


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(skimage_data.astronaut())


@pytest.fixture(scope="module")
def reference(astronaut):
    return align_face(astronaut)


def assert_same_face(face, reference, tolerance: float = 6.0) -> None:
    """Same single face, same box within ``tolerance`` pixels."""
    assert face.faces_found == 1
    np.testing.assert_allclose(face.box, reference.box, atol=tolerance)


@pytest.mark.parametrize("suffix,options", [(".jpg", {"quality": 92}), (".png", {}), (".webp", {"quality": 90}),
                                            (".bmp", {}), (".tiff", {})])
def test_common_formats(tmp_path, astronaut, reference, suffix, options):
    path = tmp_path / f"photo{suffix}"
    astronaut.save(path, **options)
    assert_same_face(align_face(path), reference)
    assert_same_face(align_face(path.read_bytes()), reference)
    with open(path, "rb") as handle:
        assert_same_face(align_face(handle), reference)


def test_animated_gif_uses_the_first_frame(tmp_path, astronaut, reference):
    path = tmp_path / "animated.gif"
    blanks = [Image.new("RGB", astronaut.size, colour) for colour in ((30, 30, 30), (200, 40, 40))]
    astronaut.save(path, save_all=True, append_images=blanks, duration=100, loop=0)
    assert Image.open(path).n_frames == 3
    assert_same_face(align_face(path), reference, tolerance=10)


@pytest.mark.parametrize("orientation,stored", [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270),
                                                (3, Image.Transpose.ROTATE_180)])
def test_exif_rotated_phone_photo(tmp_path, astronaut, reference, orientation, stored):
    """A phone stores the sensor's pixels and an EXIF tag saying how to turn them upright."""
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    astronaut.transpose(stored).save(path, quality=95, exif=exif)
    loaded = load_image(path)
    assert loaded.size == astronaut.size
    assert_same_face(align_face(path), reference)


def test_rgba_is_composited_on_white(tmp_path, astronaut, reference):
    rgba = astronaut.convert("RGBA")
    alpha = np.full(astronaut.size[::-1], 255, np.uint8)
    alpha[:, 400:] = 0  # the right edge is transparent
    rgba.putalpha(Image.fromarray(alpha))
    path = tmp_path / "cutout.png"
    rgba.save(path)
    loaded = np.asarray(load_image(path))
    assert loaded.shape == (512, 512, 3)
    assert (loaded[:, 420:] == 255).all()
    assert_same_face(align_face(path), reference)
    palette = rgba.convert("P", palette=Image.Palette.ADAPTIVE)
    palette.info["transparency"] = 0
    assert load_image(palette).mode == "RGB"
    assert align_face(np.asarray(rgba)).faces_found == 1


def test_grayscale_photo(tmp_path, astronaut, reference):
    path = tmp_path / "gray.jpg"
    astronaut.convert("L").save(path, quality=92)
    face = align_face(path)
    assert face.image.mode == "RGB"
    assert_same_face(face, reference, tolerance=10)
    assert align_face(np.asarray(astronaut.convert("L"))).faces_found == 1


def test_cmyk_jpeg(tmp_path, astronaut, reference):
    path = tmp_path / "print.jpg"
    astronaut.convert("CMYK").save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    loaded = load_image(path)
    assert np.abs(np.asarray(loaded, float) - np.asarray(astronaut, float)).mean() < 12
    assert_same_face(align_face(path), reference)


def png_16bit_rgb(array: np.ndarray) -> bytes:
    """A 48-bit RGB PNG (16 bits per channel) written by hand: PIL cannot write one."""
    height, width, _ = array.shape
    raw = b"".join(b"\x00" + array[row].astype(">u2").tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_16_bit_pngs_are_scaled_not_clipped(tmp_path, astronaut, reference):
    wide = np.asarray(astronaut).astype(np.uint16) * 257
    rgb_path = tmp_path / "rgb16.png"
    rgb_path.write_bytes(png_16bit_rgb(wide))
    loaded = np.asarray(load_image(rgb_path), float)
    assert np.abs(loaded - np.asarray(astronaut, float)).max() <= 1
    assert_same_face(align_face(rgb_path), reference)
    gray_path = tmp_path / "gray16.png"
    Image.fromarray(np.asarray(astronaut.convert("L")).astype(np.uint16) * 257).save(gray_path)
    assert Image.open(gray_path).mode.startswith("I")
    gray = np.asarray(load_image(gray_path), float)
    assert 60 < gray.mean() < 200  # not blown out to white
    assert align_face(gray_path).faces_found == 1


def test_arrays_of_other_types(astronaut, reference):
    pixels = np.asarray(astronaut)
    assert_same_face(align_face(pixels.astype(np.float32) / 255.0), reference)
    assert_same_face(align_face(pixels.astype(np.uint16) * 257), reference)
    with pytest.raises(FaceError, match="HxW"):
        load_image(np.zeros((4, 4, 2), np.uint8))


def test_huge_photo_is_downscaled_for_detection(astronaut, reference):
    huge = astronaut.resize((6144, 6144), Image.Resampling.BILINEAR)  # 38 megapixels
    face = align_face(huge)
    np.testing.assert_allclose(np.asarray(face.box) / 12, reference.box, atol=6)
    assert face.photo_size == (6144, 6144)
    assert face.image.size == (512, 512)


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


def test_decompression_bombs_are_refused(tmp_path, astronaut):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(50_000, 50_000))
    assert bomb.stat().st_size < 200
    with pytest.raises(FaceError, match="megapixel limit"):
        align_face(bomb)
    with pytest.raises(FaceError, match="too large|megapixel"):
        align_face(png_header_only(100_000, 100_000))
    with pytest.raises(FaceError, match="1-megapixel limit"):
        align_face(astronaut.resize((1200, 1200)), max_pixels=1_000_000)


@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (b"this is not an image, just some text\n" * 20, "not an image"),
    (bytes(range(256)) * 40, "not an image"),
])
def test_non_image_bytes(tmp_path, content, message):
    path = tmp_path / "upload.jpg"
    path.write_bytes(content)
    with pytest.raises(FaceError, match=message):
        align_face(path)
    if content:
        with pytest.raises(FaceError, match=message):
            align_face(content)


def test_truncated_and_corrupt_files(tmp_path, astronaut):
    path = tmp_path / "full.jpg"
    astronaut.save(path, quality=90)
    data = path.read_bytes()
    with pytest.raises(FaceError, match="corrupt or truncated"):
        align_face(data[: len(data) // 3])
    png = tmp_path / "full.png"
    astronaut.save(png)
    broken = bytearray(png.read_bytes())
    broken[200:400] = bytes(200)  # damage the compressed pixel data
    with pytest.raises(FaceError, match="corrupt or truncated"):
        align_face(bytes(broken))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FaceError, match="No such file"):
        align_face(tmp_path / "nope.jpg")
    with pytest.raises(FaceError, match="is a folder"):
        align_face(tmp_path)


def test_every_error_is_a_value_error_with_advice(tmp_path):
    """Callers can catch FaceError (a ValueError); each message ends with what to do."""
    with pytest.raises(ValueError) as caught:
        align_face(b"nonsense")
    assert isinstance(caught.value, FaceError)
    assert str(caught.value).rstrip().endswith(".")
    assert "Use a JPEG" in str(caught.value)
