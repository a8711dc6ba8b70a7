"""ENVI cubes (a text ``.hdr`` beside a raw data file), read through ``spectral``.

``spectral`` trusts the header it is given: a misspelt interleave, a missing
byte order or a truncated data file come back as a silently scrambled cube. So
the header is parsed (:func:`parse_header`) and checked (:func:`check_header`)
here first, the data file's size is compared with what the header declares,
and only then does ``spectral`` read the validated layout.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path

import numpy as np

from irpath.errors import DataFileError, HeaderError, MissingFileError
from irpath.io.cube import Cube, make_cube

#: ENVI ``data type`` codes irpath reads.
DATA_TYPES = {1: np.uint8, 2: np.int16, 3: np.int32, 4: np.float32, 5: np.float64,
              12: np.uint16, 13: np.uint32}
_UNSUPPORTED_TYPES = {6: "complex64", 9: "complex128", 14: "int64", 15: "uint64"}
INTERLEAVES = ("bsq", "bil", "bip")
#: Data-file names tried beside ``x.hdr``: ``x``, ``x.dat``, ... (and upper case).
DATA_SUFFIXES = ("", ".dat", ".img", ".raw", ".bsq", ".bil", ".bip")

# ``wavelength units`` spellings -> factor f with wavenumber = f / value (None: already cm^-1).
# Keys are normalised by _unit_key (lower case, no spaces, braces, carets or parentheses).
_UNITS = {**dict.fromkeys(("nm", "nanometer", "nanometers"), 1e7),
          **dict.fromkeys(("um", "µm", "micrometer", "micrometers", "micron", "microns"), 1e4),
          **dict.fromkeys(("mm", "millimeter", "millimeters"), 10.0),
          **dict.fromkeys(("cm-1", "1/cm", "wavenumber", "wavenumbers", "wavenumbercm-1",
                           "wavenumberscm-1", "inversecentimeters", "unknown", ""), None)}


def _unit_key(units: str) -> str:
    """'Wavenumber (cm^-1)', 'cm⁻¹', 'cm^{-1}' ... -> a key of ``_UNITS``."""
    key = units.strip().lower().replace("⁻¹", "-1").replace("\u2212", "-").replace("−", "-")
    return "".join(ch for ch in key if ch not in " ^{}()[]_")


_INT = re.compile(r"[+-]?\d+")


@dataclasses.dataclass(frozen=True)
class EnviLayout:
    """What a validated header says about its data file.

    Attributes:
        lines, samples, bands: H, W and C of the cube.
        data_type: ENVI ``data type`` code, a key of :data:`DATA_TYPES`.
        interleave: ``"bsq"``, ``"bil"`` or ``"bip"``.
        offset: bytes to skip at the start of the data file (``header offset``).
        byte_order: 0 little-endian, 1 big-endian.
        wavenumbers: (C,) float64 axis in cm^-1 (in band order), or None.
        ignore_value: ``data ignore value`` marking empty pixels, or None.
    """

    lines: int
    samples: int
    bands: int
    data_type: int
    interleave: str
    offset: int
    byte_order: int
    wavenumbers: np.ndarray | None
    ignore_value: float | None

    @property
    def dtype(self) -> np.dtype:
        """The values' numpy dtype in native byte order."""
        return np.dtype(DATA_TYPES[self.data_type])

    @property
    def nbytes(self) -> int:
        """The data file's expected size in bytes."""
        return self.offset + self.lines * self.samples * self.bands * self.dtype.itemsize


def parse_header(hdr_path) -> dict:
    """Parse an ENVI header into ``{key: value}`` without interpreting values.

    Keys are lower-cased with spaces collapsed. A ``{...}`` value (which may
    span lines) becomes a list of stripped strings split at commas, except
    ``description``, which stays one string; other values are stripped strings.

    Raises:
        MissingFileError: the header does not exist.
        HeaderError: binary file, first line not ``ENVI``, a line that is not
            ``key = value``, a duplicate key, or unbalanced braces.
    """
    path = Path(hdr_path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file")
    raw = path.read_bytes()
    if b"\0" in raw:
        raise HeaderError(f"{path}: not an ENVI header (binary file)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    lines = text.lstrip("\ufeff").splitlines()
    first = lines[0].strip() if lines else ""
    if first != "ENVI":
        raise HeaderError(f'{path}: first line must be "ENVI", found {first[:40]!r}')
    header, seen, i = {}, {}, 1
    while i < len(lines):
        lineno, line = i + 1, lines[i].strip()
        i += 1
        if not line or line.startswith(";"):
            continue
        key, sep, value = line.partition("=")
        key = " ".join(key.lower().split())
        if not sep or not key:
            raise HeaderError(f"{path}: line {lineno}: expected 'key = value', found {line[:60]!r}")
        if key in seen:
            raise HeaderError(f"{path}: duplicate key {key!r} (lines {seen[key]} and {lineno})")
        seen[key] = lineno
        value = value.strip()
        if not value.startswith("{"):
            if "{" in value or "}" in value:
                raise HeaderError(f"{path}: line {lineno}: unbalanced braces in {key!r}")
            header[key] = value
            continue
        while "}" not in value and i < len(lines):
            value += "\n" + lines[i].strip()
            i += 1
        if "}" not in value:
            raise HeaderError(f"{path}: unbalanced braces: '{{' opened for {key!r} on line "
                              f"{lineno} is never closed")
        if value.count("{") != 1 or value.count("}") != 1 or not value.endswith("}"):
            raise HeaderError(f"{path}: unbalanced braces in {key!r} (line {lineno})")
        inner = value[1:-1].strip()
        if key == "description":
            header[key] = inner
        else:
            header[key] = [v.strip() for v in inner.split(",")] if inner else []
    return header


def _integer(path, header, key, minimum, default=None) -> int:
    if key not in header:
        if default is None:
            raise HeaderError(f"{path}: missing required key {key!r}")
        return default
    value = header[key]
    if not isinstance(value, str) or not _INT.fullmatch(value):
        raise HeaderError(f"{path}: {key} must be an integer, found {value!r}")
    if int(value) < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise HeaderError(f"{path}: {key} must be {what}, found {value}")
    return int(value)


def _axis(path, header, bands) -> np.ndarray | None:
    """The ``wavelength`` list as a (C,) cm^-1 axis, converted from nm or um."""
    if "wavelength" not in header:
        return None
    values = header["wavelength"]
    values = [values] if isinstance(values, str) else values
    if len(values) != bands:
        raise HeaderError(f"{path}: wavelength lists {len(values)} values but bands = {bands}")
    try:
        axis = np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        bad = next(v for v in values if not _is_float(v))
        raise HeaderError(f"{path}: wavelength value {bad!r} is not a number") from None
    if not np.isfinite(axis).all():
        raise HeaderError(f"{path}: wavelength contains NaN/Inf")
    units = header.get("wavelength units", "")
    units = _unit_key(" ".join(units) if isinstance(units, list) else units)
    if units == "index":  # band numbers, not a spectral axis
        return None
    if units not in _UNITS:
        raise HeaderError(f"{path}: unsupported wavelength units {units!r}; expected nm, "
                          "micrometers or cm-1")
    factor = _UNITS[units]
    if factor is None:
        return axis
    if (axis <= 0).any():
        raise HeaderError(f"{path}: wavelength in {units} must be positive")
    return factor / axis  # band order kept: ascending nm gives a descending cm^-1 axis


def _is_float(text) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_header(hdr_path, header: dict) -> EnviLayout:
    """Check a parsed header and return the data layout it declares.

    Args:
        hdr_path: the header file (for messages).
        header: the output of :func:`parse_header`.

    Raises:
        HeaderError: missing/non-integer/non-positive ``samples``/``lines``/
            ``bands``; missing or bad ``byte order`` (no default is assumed);
            missing or unknown ``interleave`` or ``data type``; negative
            ``header offset``; a ``wavelength`` list that is not C numbers;
            unsupported ``wavelength units``; non-numeric ``data ignore value``.
    """
    path = Path(hdr_path)
    samples, lines, bands = (_integer(path, header, k, 1) for k in ("samples", "lines", "bands"))
    byte_order = _integer(path, header, "byte order", 0)
    if byte_order not in (0, 1):
        raise HeaderError(f"{path}: byte order must be 0 (little-endian) or 1 (big-endian), "
                          f"found {byte_order}")
    code = _integer(path, header, "data type", 0)
    if code not in DATA_TYPES:
        name = f" ({_UNSUPPORTED_TYPES[code]})" if code in _UNSUPPORTED_TYPES else ""
        supported = ", ".join(f"{k} {np.dtype(v).name}" for k, v in DATA_TYPES.items())
        raise HeaderError(f"{path}: unsupported data type {code}{name}; supported: {supported}")
    interleave = header.get("interleave")
    if not isinstance(interleave, str) or interleave.lower() not in INTERLEAVES:
        found = "missing" if interleave is None else f"{interleave!r}"
        raise HeaderError(f"{path}: interleave must be bsq, bil or bip, found {found}")
    offset = _integer(path, header, "header offset", 0, default=0)
    ignore = header.get("data ignore value")
    if ignore is not None:
        if not isinstance(ignore, str) or not _is_float(ignore):
            raise HeaderError(f"{path}: data ignore value must be a number, found {ignore!r}")
        ignore = float(ignore)
    return EnviLayout(lines=lines, samples=samples, bands=bands, data_type=code,
                      interleave=interleave.lower(), offset=offset, byte_order=byte_order,
                      wavenumbers=_axis(path, header, bands), ignore_value=ignore)


def find_data_file(hdr_path, header: dict) -> Path:
    """The data file: the header's ``data file`` key, else ``x``, ``x.dat``, ... beside ``x.hdr``.

    Raises:
        MissingFileError: no such file exists.
    """
    path = Path(hdr_path)
    if "data file" in header:
        named = path.parent / str(header["data file"])
        if not named.is_file():
            raise MissingFileError(f"{path}: data file {header['data file']} named by the header "
                                   "does not exist")
        return named
    stem = str(path.with_suffix(""))
    candidates = [stem + s for s in DATA_SUFFIXES] + [stem + s.upper() for s in DATA_SUFFIXES[1:]]
    for cand in candidates:
        if Path(cand).is_file():
            return Path(cand)
    names = ", ".join(Path(c).name for c in candidates[:len(DATA_SUFFIXES)])
    raise MissingFileError(f"{path}: no data file beside the header (looked for {names})")


def _spyfile(layout: EnviLayout, data_file: Path):
    """A ``spectral`` image object for the validated layout (the header is not re-read)."""
    from spectral.io import envi

    params = envi.gen_params({
        "samples": layout.samples, "lines": layout.lines, "bands": layout.bands,
        "header offset": layout.offset, "byte order": layout.byte_order,
        "data type": layout.data_type})
    params.filename = str(data_file)
    kind = {"bsq": envi.BsqFile, "bil": envi.BilFile, "bip": envi.BipFile}[layout.interleave]
    return kind(params, {})


def open_layout(hdr_path) -> tuple[EnviLayout, Path]:
    """The validated layout of an ENVI header and its data file, whose size is checked.

    Raises:
        MissingFileError, HeaderError: see :func:`parse_header`, :func:`check_header`.
        DataFileError: the data file is shorter or longer than
            ``header offset + samples * lines * bands * bytes per value``.
    """
    path = Path(hdr_path)
    header = parse_header(path)
    layout = check_header(path, header)
    data_file = find_data_file(path, header)
    size = data_file.stat().st_size
    if size != layout.nbytes:
        problem = "truncated" if size < layout.nbytes else f"{size - layout.nbytes} bytes too long"
        raise DataFileError(
            f"{data_file}: {size} bytes, but {path.name} declares {layout.offset} + "
            f"{layout.lines}*{layout.samples}*{layout.bands}*{layout.dtype.itemsize} = "
            f"{layout.nbytes} bytes ({problem})")
    return layout, data_file


def read_envi(hdr_path, *, mmap: bool = False) -> Cube:
    """Read an ENVI cube after validating its header and data-file size.

    Args:
        hdr_path: the ``.hdr`` file; the data file is found by :func:`find_data_file`.
        mmap: return a read-only memory-mapped (H, W, C) view in the file's dtype
            and byte order instead of loading a float32 copy.

    Returns:
        A :class:`Cube` with (H, W, C) = (lines, samples, bands), the ``wavelength``
        axis in cm^-1 (or None), and pixels equal to ``data ignore value`` invalid.

    Raises:
        MissingFileError, HeaderError: see :func:`parse_header`, :func:`check_header`.
        DataFileError: the data file is shorter or longer than
            ``header offset + samples * lines * bands * bytes per value``.
    """
    path = Path(hdr_path)
    layout, data_file = open_layout(path)
    image = _spyfile(layout, data_file)
    try:
        if mmap:
            data = image.open_memmap(interleave="bip", writable=False)
            if data is None:
                raise DataFileError(f"{data_file}: cannot memory-map the data file")
        else:
            with warnings.catch_warnings():  # NaNs are reported through Cube.valid
                warnings.simplefilter("ignore")
                data = np.asarray(image.load(dtype=np.float32, scale=False))
    except OSError as exc:
        raise DataFileError(f"{data_file}: cannot read data file: {exc}") from None
    finally:
        image.fid.close()
    return make_cube(path, data, wavenumbers=layout.wavenumbers,
                     ignore_value=layout.ignore_value, mmap=mmap)
