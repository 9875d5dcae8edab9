"""Reading one image file as the model sees it: the one resize policy of labelspace.

Every path that turns an image file into pixels (decoding a folder into memory, streaming it
from files or shards, ``labelspace predict``) goes through :func:`read_image`, so that training,
evaluation and prediction see the same pixels:

- the image is decoded with Pillow as 8-bit grayscale or RGB (alpha dropped) and turned
  upright by its EXIF orientation, as every image viewer shows it (a phone photo stored
  sideways with orientation 6 or 8 is read as it was taken);
- with a target size ``N`` (``--image-size N``), its shorter side is resized to ``N``
  (bilinear, antialiased) and the centre ``N x N`` square is kept. The aspect ratio is never
  changed; an image already ``N x N`` is left untouched, so fixed-size datasets are as before.

Training augmentation (a random crop after padding, a flip; see
:mod:`labelspace.data.transforms`) then works on that ``N x N`` image, in memory or streamed.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import ExifTags, Image

from labelspace.errors import InputError

__all__ = [
    "DECODE_ERRORS",
    "GRAY_MODES",
    "IMAGE_EXTENSIONS",
    "fit_image",
    "open_image",
    "orientation",
    "read_image",
    "to_uint8",
    "upright",
]

IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".ppm", ".pgm", ".pbm", ".tif", ".tiff",
})  # fmt: skip
"""File suffixes (lowercase) read as images; other files in class folders are ignored."""

GRAY_MODES = frozenset({"1", "L", "LA", "La"})

DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
"""What Pillow raises for unreadable files (SyntaxError: some plugins' malformed headers)."""


def decode_error_reason(err: BaseException) -> str:
    """Why a file could not be decoded, in one line: the first line of Pillow's message (its
    "cannot identify image file <BytesIO ...>" names a buffer, not the file, so it becomes a
    plain sentence), or the error's type when it has no message."""
    if isinstance(err, Image.UnidentifiedImageError):
        return "not an image format Pillow can read"
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation -> the transposition that makes the image upright (ImageOps.exif_transpose's
table)."""


_METADATA = ("exif", "xmp", "XML:com.adobe.xmp", "Raw profile type exif")
"""Where Pillow finds an orientation outside TIFF tags; without any, an image is upright (a
check that saves parsing, about a tenth of decoding a 32 x 32 JPEG)."""


def orientation(pil: Image.Image) -> int:
    """The EXIF orientation of a Pillow image (1: upright). Malformed EXIF counts as upright,
    as viewers treat it: it must not make an image unreadable."""
    if pil.format != "TIFF" and not any(key in pil.info for key in _METADATA):
        return 1
    try:
        value = pil.getexif().get(ExifTags.Base.Orientation, 1)
        return int(value) if int(value) in _TRANSPOSE else 1
    except Exception:  # any damage in the EXIF block: no orientation
        return 1


def upright(pil: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says (ImageOps.exif_transpose's rule)."""
    method = _TRANSPOSE.get(orientation(pil))
    return pil if method is None else pil.transpose(method)


def open_image(source: Path | bytes) -> Image.Image:
    """One image, decoded, as an 8-bit grayscale ("L") or RGB Pillow image, upright by its
    EXIF orientation; alpha is dropped.

    A file is read in one call and parsed from memory: Pillow's JPEG parser reads byte by
    byte, which from a file costs more than the decoding of a 32 x 32 image.
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    pil = Image.open(io.BytesIO(data))
    pil.load()  # decode now, so that a damaged file fails here
    pil = upright(pil)
    if pil.mode in {"L", "RGB"}:
        return pil
    if pil.mode in GRAY_MODES:
        return pil.convert("L")
    if pil.mode.startswith("I;16"):  # 16-bit grayscale: keep the high byte
        return Image.fromarray((np.asarray(pil).astype(np.uint16) >> 8).astype(np.uint8), "L")
    if pil.mode in {"I", "F"}:
        raise InputError(f"unsupported pixel mode {pil.mode!r}; save it as 8-bit grayscale")
    return pil.convert("RGB")


def fit_image(pil: Image.Image, size: int) -> Image.Image:
    """Shorter side to ``size`` (bilinear, antialiased), then the centre ``size x size``."""
    w, h = pil.size
    if (w, h) == (size, size):
        return pil
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    if (new_w, new_h) != (w, h):
        pil = pil.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return pil.crop((left, top, left + size, top + size))


def to_uint8(pil: Image.Image, channels: int) -> torch.Tensor:
    """A grayscale or RGB Pillow image as a uint8 ``(channels, H, W)`` tensor."""
    if channels == 1 and pil.mode != "L":
        pil = pil.convert("L")
    array = np.asarray(pil)
    if array.ndim == 2:  # grayscale: one channel, repeated for RGB
        array = np.repeat(array[None], channels, axis=0)
    else:
        array = np.ascontiguousarray(array.transpose(2, 0, 1))
    return torch.from_numpy(array)


def read_image(source: Path | bytes, *, channels: int, size: int | None = None) -> torch.Tensor:
    """Decode an image file (or its bytes) as uint8 ``(channels, N, N)`` per the resize policy.

    Without ``size`` the image keeps its own size. Raises Pillow's errors
    (:data:`DECODE_ERRORS`) for unreadable data; callers name the file.
    """
    if channels not in (1, 3):
        raise InputError(f"channels must be 1 or 3, got {channels}")
    pil = open_image(source)
    if size is not None:
        pil = fit_image(pil, size)
    return to_uint8(pil, channels)
