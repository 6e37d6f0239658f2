"""File input/output: tolerant table reading, atomic writes and content hashes.

Reading is tolerant of what users' spreadsheets really look like (Dutch Excel exports with
semicolons and decimal commas, UTF-8 with a byte-order mark, Latin-1), and strict about what
cannot be right (binary content, an empty file). Every problem is an :class:`InputError` that
names the file. Writing is atomic: a temporary file in the target directory, flushed and
then renamed over the target, so an interrupted run never leaves a half-written output.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import InputError, OutputError

MAX_INPUT_BYTES = 200 * 1024**2
"""Largest input file read (200 MiB; the shipped evidence is under 1 MiB, a microdata file of
a large municipality a few MiB). ``BAYES_BIJSTAND_MAX_INPUT_MB`` raises it."""


def _max_input_bytes() -> int:
    env = os.environ.get("BAYES_BIJSTAND_MAX_INPUT_MB", "")
    try:
        return int(float(env) * 1024**2) if env else MAX_INPUT_BYTES
    except ValueError:
        return MAX_INPUT_BYTES


def check_input_file(path: str | os.PathLike[str], *, error: type = InputError,
                     expected: str = "a CSV file") -> Path:
    """``path`` as a readable regular file of at most the size limit, or ``error(path, why)``.

    A FIFO, a device (``/dev/zero``), a socket or a directory is refused without opening
    it, so reading never hangs or exhausts memory.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise error(str(p), "file not found") from None
    except OSError as exc:
        raise error(str(p), f"cannot read file ({exc.strerror or type(exc).__name__})") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(str(p), f"is a directory, expected {expected}")
    if not stat.S_ISREG(st.st_mode):
        what = ("a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise error(str(p), f"is {what}, expected {expected} (a regular file)")
    limit = _max_input_bytes()
    if st.st_size > limit:
        raise error(str(p), f"file is {st.st_size / 1024**2:.0f} MiB, larger than the "
                    f"{limit / 1024**2:.0f} MiB limit (set BAYES_BIJSTAND_MAX_INPUT_MB to "
                    "raise it)")
    return p


def read_input_bytes(path: str | os.PathLike[str], *, error: type = InputError,
                     expected: str = "a CSV file") -> bytes:
    """The bytes of an input file, after :func:`check_input_file` (never more than the limit)."""
    p = check_input_file(path, error=error, expected=expected)
    limit = _max_input_bytes()
    try:
        with open(p, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise error(str(p), f"cannot read file ({exc.strerror or type(exc).__name__})") from None
    if len(raw) > limit:  # grew since stat
        raise error(str(p), f"file is larger than the {limit / 1024**2:.0f} MiB limit")
    return raw


def inside(root: str | os.PathLike[str], *parts: str) -> Path:
    """``root / parts...``, refusing any path that resolves outside ``root``.

    Every output path built from a name (an outcome code, a job name) goes through here: an
    absolute part, ``..`` or a symbolic link out of ``root`` is an :class:`OutputError`, and
    so is a NUL byte or an over-long name.
    """
    base = Path(root)
    for part in parts:
        if not part or "\x00" in part or "/" in part or "\\" in part or part in (".", "..") \
                or len(part.encode("utf-8", "surrogateescape")) > 200:
            raise OutputError(f"refusing to write '{part!r}' inside --out {base}: not a "
                              "plain file name")
    target = base.joinpath(*parts)
    root_r = base.resolve()
    if not target.resolve().is_relative_to(root_r):
        raise OutputError(f"refusing to write {target}: it resolves outside --out {base}")
    return target

__all__ = [
    "MAX_INPUT_BYTES",
    "read_input_bytes",
    "inside",
    "check_output_dir",
    "lock_output_dir",
    "read_table",
    "atomic_path",
    "is_temp_file",
    "remove_stale_temp_files",
    "atomic_write_text",
    "atomic_write_json",
    "sha256_file",
    "sha256_text",
]


def _decode(raw: bytes, path: Path) -> str:
    if not raw.strip():
        raise InputError(str(path), "file is empty")
    if b"\x00" in raw[:8192]:
        raise InputError(str(path), "file is binary, not a text table (CSV expected)")
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        break
    else:  # pragma: no cover - latin-1 decodes every byte string
        raise InputError(str(path), "cannot decode file as UTF-8 or Latin-1")
    # Control characters other than tab/newline/carriage return mean it is not a text table.
    bad = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\t\n\r")
    if bad > 0:
        raise InputError(str(path), "file contains binary control characters, not a text table")
    return text


def _sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def read_table(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a CSV-like table as strings, detecting encoding, delimiter and decimal mark.

    Returns the table (every cell a string, empty cells as ``""``) and a dict of what was
    detected (``encoding``, ``delimiter``, ``decimal``). Values are converted to numbers by
    the schema, which knows which columns are numeric and can name the row and field of a
    bad cell. Parquet files (``.parquet``) are read with pandas and converted to strings.
    """
    p = check_input_file(path)
    if p.suffix.lower() == ".parquet":
        try:
            df = pd.read_parquet(p)
        except Exception as exc:  # noqa: BLE001 - any parquet failure is bad input
            raise InputError(str(p), f"cannot read Parquet file ({type(exc).__name__})") from None
        return df.astype("string").fillna("").astype(object), {"format": "parquet"}
    raw = read_input_bytes(p)
    text = _decode(raw, p)
    lines = text.splitlines()
    header = next((ln for ln in lines if ln.strip()), "")
    delim = _sniff_delimiter(header)
    decimal = "," if delim == ";" else "."
    try:
        reader = csv.reader(io.StringIO(text), delimiter=delim)
        numbered = list(enumerate(reader, start=1))
    except csv.Error as exc:
        raise InputError(str(p), f"not a valid CSV table ({exc})") from None
    # Row numbers as a spreadsheet shows them: blank lines count, a quoted multi-line cell
    # does not (it is one row); the header is row 1 when the file does not start blank.
    numbered = [(n, r) for n, r in numbered if any(c.strip() for c in r)]
    rows = [r for _, r in numbered]
    lines_of = [n for n, _ in numbered]
    if not rows:
        raise InputError(str(p), "file is empty")
    head = [c.strip() for c in rows[0]]
    if len(rows) == 1:
        raise InputError(str(p), "file has a header but no data rows")
    width = len(head)
    body = []
    for i, r in enumerate(rows[1:], start=2):
        line = lines_of[i - 1]
        if len(r) > width and any(c.strip() for c in r[width:]):
            raise InputError(str(p), f"row has {len(r)} cells but the header has {width}", row=line)
        body.append([c.strip() for c in (r + [""] * width)[:width]])
    # Excel exports often end every line with a delimiter: drop unnamed, empty columns.
    keep = [j for j, h in enumerate(head) if h or any(b[j] for b in body)]
    for j in keep:
        if not head[j]:
            raise InputError(str(p), f"column {j + 1} has values but no name in the header",
                             row=lines_of[0])
    head = [head[j] for j in keep]
    body = [[b[j] for j in keep] for b in body]
    seen: set[str] = set()
    for h in head:
        if h in seen:
            raise InputError(str(p), "column appears twice in the header", row=lines_of[0],
                             field=h)
        seen.add(h)
    df = pd.DataFrame(body, columns=head, dtype=object)
    df.index = lines_of[1:]
    return df, {"encoding": "detected", "delimiter": delim, "decimal": decimal}


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_dir(out: str | os.PathLike[str], need_bytes: int) -> None:
    """Refuse clearly, before anything is sampled, an ``--out`` that cannot take the run.

    ``out`` (or, where it does not exist yet, its nearest existing parent) must be a
    writable directory on a file system with at least ``need_bytes`` free. Nothing is
    created outside ``out``; inside an existing ``out`` a probe file is written and removed
    (on a read-only mount, ``os.access`` alone would not tell a root user).
    """
    o = Path(out)
    base = _nearest_existing(o)
    if not base.is_dir():
        raise OutputError(f"--out {o}: {base} is not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"--out {o}: {base} is not writable (choose a writable --out)")
    if base == o.absolute():
        try:
            fd, probe = tempfile.mkstemp(prefix=".write-probe.", suffix=TEMP_SUFFIX, dir=base)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise OutputError(f"--out {o}: cannot write there "
                              f"({exc.strerror or type(exc).__name__})") from None
    import shutil

    free = shutil.disk_usage(base).free
    if free < need_bytes:
        raise OutputError(f"--out {o}: only {free / 1024**2:.0f} MiB free on its file system, "
                          f"the run needs about {need_bytes / 1024**2:.0f} MiB (free some "
                          "space or choose another --out)")


LOCK_NAME = ".bayes_bijstand.lock"
"""The lock file of a run in ``--out`` (see :func:`lock_output_dir`)."""


@contextlib.contextmanager
def lock_output_dir(out: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` for one run; a second run is refused clearly.

    Two runs writing into one ``--out`` would overwrite each other's records, and the second
    run's start-up clean-up could delete the first run's in-flight temporary files. The lock
    is an ``flock`` on ``OUT/.bayes_bijstand.lock`` (released by the kernel when the process
    dies, also on SIGKILL, so a stale lock file never blocks a later run). The file holds the
    pid of the run that holds it.
    """
    import fcntl

    path = Path(out) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                other = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            except OSError:
                other = "?"
            raise OutputError(f"--out {out} is in use by another run (pid {other}); wait for "
                              "it or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


TEMP_SUFFIX = ".tmp"
"""Temporary files of :func:`atomic_path` are named ``.<target name>.<random>.tmp``."""


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o644)  # mkstemp makes 0600; outputs are shared (e.g. on a cluster)
        os.replace(tmp_path, target)
        _fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _fsync_dir(directory: Path) -> None:
    """Persist a rename (best effort; not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_temp_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a temporary file of :func:`atomic_path` (never a finished output)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def remove_stale_temp_files(directory: str | os.PathLike[str], *,
                            recursive: bool = False) -> list[Path]:
    """Delete leftover temporary files of :func:`atomic_path` in ``directory``.

    A process killed with SIGKILL cannot clean up, so its half-written ``.<name>.*.tmp``
    files stay behind (the targets themselves are never partial). Call this at the start of
    a run, before any job writes; returns the removed paths. Only names of the
    :func:`atomic_path` pattern are touched.
    """
    d = Path(directory)
    removed: list[Path] = []
    if not d.is_dir():
        return removed
    pattern = f".*{TEMP_SUFFIX}"
    for f in sorted(d.rglob(pattern) if recursive else d.glob(pattern)):
        if f.is_file() and is_temp_file(f):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
                removed.append(f)
    return removed


def atomic_write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def atomic_write_json(target: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as pretty, key-sorted JSON atomically (stable bytes for equal input)."""
    return atomic_write_text(target, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def netcdf_engine() -> str:
    """The xarray engine that writes and reads the package's netCDF files.

    ``netcdf4`` (the netCDF-C library) where installed: a fit's file has ~130 variables in
    nine groups, and h5netcdf's per-variable bookkeeping made writing one take ~6x longer
    (1.1 s against 6.5 s for the 8 MB file of one main fit) and reading ~3x longer. Both
    write the same netCDF-4/HDF5 format, so either reads the other's files; h5netcdf is the
    fallback. netCDF-C writes the same bytes for the same tree.
    """
    try:
        import netCDF4  # noqa: F401
    except ImportError:  # pragma: no cover - a declared dependency
        return "h5netcdf"
    return "netcdf4"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    """Hex SHA-256 of a string (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
