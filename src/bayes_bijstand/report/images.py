"""Figures inside the report: light data URIs for the default report, originals for ``--full``.

The run writes every figure as a 150 dpi PNG (for print and slides). Embedded as is, the 11
figures of 20 outcomes weigh about 46 MB and take Chromium 10 s or more to load. The default
report therefore re-encodes each figure it embeds as WebP (every current browser shows it) at
screen width (1000 px, quality 60: text and lines stay readable at about a sixth of the
bytes), and it does not embed the sampler diagnostics (funnel, rank, trace, energy) at all:
it links to their PNG files next to the report. ``full=True`` embeds every original PNG.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

ANALYST_FIGURES: tuple[str, ...] = ("funnel", "rank", "trace", "energy")
"""Figures for analysts only: linked (default) or embedded (``full``), never shown open."""

MAX_WIDTH_PX = 1000
"""Widest embedded figure in pixels (the report's column is 950 CSS px wide)."""

WEBP_QUALITY = 60
"""Lossy WebP quality: text and lines stay readable at screen size, areas compress well."""


def png_data_uri(path: Path) -> str:
    """``data:image/png;base64,...`` of the file as it is."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def light_data_uri(path: Path, *, max_width: int = MAX_WIDTH_PX, quality: int = WEBP_QUALITY) -> str:
    """A WebP data URI of the image at ``path``, at most ``max_width`` pixels wide.

    Falls back to the original PNG when Pillow cannot write WebP (a build without libwebp).
    """
    try:
        from PIL import Image, features
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return png_data_uri(path)
    if not features.check("webp"):
        return png_data_uri(path)
    with Image.open(path) as im:
        im.load()
        img = im.convert("RGBA") if im.mode in ("P", "LA") else im
        if img.width > max_width:
            h = max(1, round(img.height * max_width / img.width))
            img = img.resize((max_width, h), Image.Resampling.LANCZOS)
        if img.mode == "RGBA":  # figures are opaque; drop alpha so WebP does not store it
            bg = Image.new("RGB", img.size, (255, 255, 255))
            bg.paste(img, mask=img.getchannel("A"))
            img = bg
        buf = io.BytesIO()
        img.save(buf, format="WEBP", quality=quality, method=6)
    return "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
