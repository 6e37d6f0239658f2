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
import contextlib
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


CACHE_DIR = ".light"
"""Folder (next to the PNGs) of the light copies: ``<stem>-<key>.webp``, ``key`` a hash of the
PNG's bytes and the encoding settings. Encoding is ~0.14 s per figure (140 figures: ~20 s at
the end of every run, resumed runs included); the figure process fills the cache while the
next fit samples (:func:`warm_light_cache`), so the report only reads the files."""


def _cache_path(path: Path, max_width: int, quality: int) -> Path:
    import hashlib

    from PIL import __version__ as pil

    h = hashlib.sha256(path.read_bytes())
    h.update(f"|{max_width}|{quality}|{pil}".encode())
    return path.parent / CACHE_DIR / f"{path.stem}-{h.hexdigest()[:16]}.webp"


def light_data_uri(path: Path, *, max_width: int = MAX_WIDTH_PX, quality: int = WEBP_QUALITY) -> str:
    """A WebP data URI of the image at ``path``, at most ``max_width`` pixels wide.

    Read from the cache next to the PNG where present (same bytes as encoding it again),
    else encoded and cached (a folder that cannot be written only loses the cache). Falls
    back to the original PNG when Pillow cannot write WebP (a build without libwebp).
    """
    try:
        from PIL import features
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return png_data_uri(path)
    if not features.check("webp"):
        return png_data_uri(path)
    cached = _cache_path(path, max_width, quality)
    data = cached.read_bytes() if cached.is_file() else b""
    if not _whole_webp(data):
        data = _encode(path, max_width, quality)
        with contextlib.suppress(OSError):
            _write_cache(cached, path.stem, data)
    return "data:image/webp;base64," + base64.b64encode(data).decode("ascii")


def _whole_webp(data: bytes) -> bool:
    """A complete WebP file: RIFF header, WEBP tag, and as many bytes as the header says (a
    cache file cut short by a crash is encoded again, not embedded)."""
    return (len(data) > 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP"
            and int.from_bytes(data[4:8], "little") + 8 == len(data))


def _write_cache(cached: Path, stem: str, data: bytes) -> None:
    """Write one cache file by rename (no fsync: a cache; :func:`_whole_webp` checks it on
    reading), removing the figure's older copies."""
    import os
    import tempfile

    cached.parent.mkdir(exist_ok=True)
    for old in cached.parent.glob(f"{stem}-*.webp"):
        old.unlink()
    fd, tmp = tempfile.mkstemp(prefix=f".{cached.name}.", suffix=".tmp", dir=cached.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, cached)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def warm_light_cache(paths: list[Path]) -> None:
    """Encode the light copies of ``paths`` (PNG figures the report may embed) ahead of the
    report; errors are left for the report to meet (and fall back from)."""
    for p in paths:
        if p.suffix == ".png" and p.stem not in ANALYST_FIGURES:
            with contextlib.suppress(Exception):
                light_data_uri(p)


def _encode(path: Path, max_width: int, quality: int) -> bytes:
    """The WebP bytes of the image at ``path``, at most ``max_width`` pixels wide."""
    from PIL import Image

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
    return buf.getvalue()
