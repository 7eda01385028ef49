"""One photo file -> one uint8 tensor (3, R, R): decoded, converted to RGB, resized and center-cropped.

Real collections hold every kind of file: grayscale, CMYK and palette images,
transparency, 16-bit PNGs, thumbnails, panoramas, truncated downloads and the odd
text file. Everything PIL can decode is converted to 8-bit RGB; what it cannot is
reported as a ``Skipped`` with the reason, never silently dropped or half-read.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image, ImageOps

BACKGROUND = (255, 255, 255)  # transparent pixels are composited onto white, as viewers show them


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@contextmanager
def huge_photos_allowed() -> Iterator[None]:
    """Silence PIL's DecompressionBombWarning around a batch of ``decode_photo`` calls.

    Photos between PIL's pixel limit (``Image.MAX_IMAGE_PIXELS``, ~89 MP) and twice it only warn: they are
    decoded (JPEGs at reduced scale) like any photo. Beyond twice the limit PIL raises, and ``decode_photo``
    skips the file. Warning filters are process-wide, so this wraps the whole batch (and its worker threads),
    not each call.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def decode_photo(path: Path, resolution: int, min_side: int) -> torch.Tensor | Skipped:
    """The image at ``path`` as uint8 (3, resolution, resolution), or why it cannot be used."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if min(width, height) < min_side:
                return Skipped(str(path), f"too small ({width}x{height} px; data.min_side is {min_side})")
            # JPEG only: decode at the smallest 1/2, 1/4 or 1/8 scale that still covers the target,
            # which makes big photos several times cheaper to read.
            image.draft("RGB", (resolution, resolution))
            image.load()
            rgb = _to_rgb(ImageOps.exif_transpose(image))
    except Image.DecompressionBombError as error:
        return Skipped(str(path), f"too large to decode safely ({error})")
    except Exception as error:  # noqa: BLE001  PIL raises many types for broken files; each is reported, not hidden
        return Skipped(str(path), f"unreadable ({type(error).__name__}: {error})")
    # Resize the shorter side to ``resolution`` and crop the centre: one call, antialiased.
    fitted = ImageOps.fit(rgb, (resolution, resolution), method=Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(fitted, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB (16-bit scaled, not clipped; transparency onto BACKGROUND)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # 16-bit and 32-bit grayscale: PIL's own convert() clips at 255 (a white image); scale instead.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        if image.mode == "F" and values.max() <= 1.0:
            top = 1.0  # float images in [0, 1]
        gray = np.clip(values * (255.0 / top), 0, 255).round().astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, BACKGROUND)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV
