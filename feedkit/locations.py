"""Where a source's files are: a path, a directory, a glob or a URL, as a sorted list of files.

A local path, ``s3://bucket/key``, ``gs://bucket/key`` (through :mod:`pyarrow.fs`, credentials
from the usual environment: ``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, ...) or an
``http(s)://`` URL (one file, read with ``httpx``; Parquet needs a server that answers byte
ranges). A directory stands for every file below it, hidden ones (``.x``, ``_SUCCESS``) left
out; a glob (``data/*.csv``, ``s3://b/logs/**/*.jsonl.gz``) for the files it matches. Files
come sorted by path, and ``key=value`` folders below the root (hive partitions) are kept as
:attr:`FileRef.partitions`. A URL's query string (which may hold a token or key) is never part
of the name a message shows.

Each file's bytes come through :class:`Opener`: its first bytes name its codec (gzip, bzip2,
zstd, xz), whatever its name, and ``position`` counts the file's bytes read for progress.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from feedkit.sources import SourceError, SourceNotFoundError

__all__ = ["FileRef", "Files", "Opener", "resolve"]

GLOB_CHARS = re.compile(r"[*?\[]")
HIDDEN_PREFIXES = (".", "_")  # skipped in a directory, as Arrow datasets do
HTTP_TIMEOUT = 30.0  # seconds without a byte before an http(s) read fails
HTTP_CHUNK = 1 << 20
_FS_SCHEMES = ("s3", "gs", "gcs", "file", "hdfs", "abfs", "abfss")
_HTTP_SCHEMES = ("http", "https")
# First bytes of the compressed and binary formats a text file may hold, whatever its name.
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PAR1", "parquet"),
)
COMPRESSED_SUFFIXES = (".gz", ".gzip", ".bz2", ".zst", ".zstd", ".xz")


class LocationError(SourceError):
    """A location that cannot be listed or read (a network or permission failure)."""


LocationNotFoundError = SourceNotFoundError  # a location where there is no file


@dataclass(frozen=True)
class FileRef:
    """One file: the name messages show, where it is, its size, and when it last changed."""

    name: str
    path: str  # within ``fs``; a local path or the URL when ``fs`` is None
    size: int
    mtime_ns: int | None
    fs: pafs.FileSystem | None = None  # None: the local file system, or http(s)
    partitions: tuple[tuple[str, str], ...] = ()
    version: str = ""  # an http(s) ETag or Last-Modified

    @property
    def suffix(self) -> str:
        """The suffix that names the format, past a compression one (posts.csv.gz: .csv)."""
        return format_suffix(self.name)

    def identity(self) -> str:
        """What changes when the file does: name, size, modification time."""
        changed = self.mtime_ns if self.mtime_ns is not None else self.version
        return f"{self.name}:{self.size}:{changed}"

    def stream(self) -> Any:
        """A fresh sequential stream of the file's raw bytes."""
        if _is_http(self.path):
            return _HttpFile(self.path, self.size)
        if self.fs is None:
            return open(self.path, "rb", buffering=0)
        return self.fs.open_input_stream(self.path, compression=None)

    def random_access(self) -> Any:
        """The file for seeking reads (Parquet): a local path or a seekable file object."""
        if _is_http(self.path):
            return _HttpFile(self.path, self.size)
        if self.fs is None:
            return self.path
        return self.fs.open_input_file(self.path)


@dataclass(frozen=True)
class Files:
    """What a source string names: its files, and whether it named one file as such."""

    name: str
    files: list[FileRef]
    single: bool


def format_suffix(name: str) -> str:
    """The suffix that names a file's format, past a compression suffix (posts.csv.gz)."""
    path = PurePosixPath(urlsplit(name).path if _scheme(name) else name)
    suffixes = [x.lower() for x in path.suffixes]
    while suffixes and suffixes[-1] in COMPRESSED_SUFFIXES:
        suffixes.pop()
    if suffixes:
        return suffixes[-1]
    return ".csv" if path.suffix.lower() in COMPRESSED_SUFFIXES else path.suffix.lower()


def shown(text: str) -> str:
    """A location as messages show it: a URL without its query string or password."""
    if not _scheme(text):
        return text
    parts = urlsplit(text)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def _scheme(text: str) -> str:
    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]+)://", text)
    return m.group(1).lower() if m else ""


def _is_http(text: str) -> bool:
    return _scheme(text) in _HTTP_SCHEMES


def resolve(source: str | os.PathLike[str]) -> Files:
    """The files ``source`` names, sorted by path; :class:`LocationNotFoundError` when none."""
    text = os.fspath(source)
    scheme = _scheme(text)
    if scheme in _HTTP_SCHEMES:
        return Files(shown(text), [_http_ref(text)], True)
    if scheme and scheme not in _FS_SCHEMES:
        raise LocationError(f"{shown(text)}: cannot read {scheme}:// URLs (s3, gs, http(s))")
    glob = GLOB_CHARS.search(urlsplit(text).path if scheme else text)
    if glob is not None:
        cut = text.rfind("/", 0, text.index(glob.group(0), text.index("://") + 3 if scheme else 0))
        base, pattern = (text[:cut], text[cut + 1 :]) if cut >= 0 else (".", text)
    else:
        base, pattern = text, None
    fs, root = _filesystem(base, scheme)
    info = _info(fs, root, shown(base))
    if pattern is None and info.type == pafs.FileType.File:
        return Files(shown(text), [_ref(fs, root, shown(text), info, scheme)], True)
    if info.type != pafs.FileType.Directory:
        raise LocationNotFoundError(f"{shown(text)}: no such file or directory")
    found = _listing(fs, root, shown(base).rstrip("/"), pattern, scheme)
    if not found:
        what = f"no file matches {pattern!r}" if pattern else "an empty directory"
        raise LocationNotFoundError(f"{shown(text)}: {what}")
    return Files(shown(text), found, False)


def _filesystem(base: str, scheme: str) -> tuple[pafs.FileSystem, str]:
    if not scheme:
        return pafs.LocalFileSystem(), os.path.abspath(base)
    try:
        fs, root = pafs.FileSystem.from_uri(base)
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        query = urlsplit(base).query  # may hold a key: never in a message
        why = str(exc).replace(query, "...") if query else str(exc)
        raise LocationError(f"{shown(base)}: cannot reach it: {why}") from None
    return fs, root.rstrip("/")


def _info(fs: pafs.FileSystem, path: str, name: str) -> pafs.FileInfo:
    try:
        return fs.get_file_info(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise LocationError(f"{name}: cannot read it: {exc}") from None


def _ref(
    fs: pafs.FileSystem, path: str, name: str, info: pafs.FileInfo, scheme: str, parts: Any = ()
) -> FileRef:
    return FileRef(
        name=name,
        path=path,
        size=int(info.size or 0),
        mtime_ns=info.mtime_ns,
        fs=fs if scheme else None,
        partitions=tuple(parts),
    )


def _listing(
    fs: pafs.FileSystem, root: str, shown_root: str, pattern: str | None, scheme: str
) -> list[FileRef]:
    """The files below ``root`` (matching ``pattern``, a glob relative to it), sorted."""
    recursive = pattern is None or "/" in pattern or "**" in pattern
    try:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=recursive))
    except (OSError, pa.ArrowInvalid) as exc:
        raise LocationError(f"{shown_root}: cannot list it: {exc}") from None
    match = _glob_regex(pattern) if pattern is not None else None
    found = []
    for info in infos:
        if info.type != pafs.FileType.File:
            continue
        rel = info.path[len(root) :].lstrip("/")
        segments = rel.split("/")
        if match is None and any(s.startswith(HIDDEN_PREFIXES) for s in segments):
            continue
        if match is not None and not match.fullmatch(rel):
            continue
        parts = [tuple(s.split("=", 1)) for s in segments[:-1] if "=" in s]
        parts = [(k, unquote(v)) for k, v in parts if k]
        name = f"{shown_root}/{rel}" if shown_root not in ("", ".") else rel
        found.append(_ref(fs, info.path, name, info, scheme, parts))
    return sorted(found, key=lambda f: f.name)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regular expression: ``*`` and ``?`` stay within a folder, ``**/`` spans
    any number of them, ``[...]`` is a character class."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(?:[^/]*/)*", i + 3
            continue
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "]") else i + 1)
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
            i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out)


# -- http(s) ---------------------------------------------------------------------------------


def _http_ref(url: str) -> FileRef:
    """The size and version of an http(s) file: from a HEAD, or, where HEAD is refused (a
    URL signed for GET only), from a GET of its first byte."""
    import httpx

    try:
        answer = httpx.head(url, follow_redirects=True, timeout=HTTP_TIMEOUT)
        if answer.status_code in (403, 405, 501):
            with httpx.stream("GET", url, headers={"Range": "bytes=0-0"},
                              follow_redirects=True, timeout=HTTP_TIMEOUT) as answer:  # fmt: skip
                pass  # the headers say all; the body is not read
    except httpx.HTTPError as exc:
        raise LocationError(f"{shown(url)}: cannot reach it: {type(exc).__name__}") from None
    if answer.status_code == 404:
        raise LocationNotFoundError(f"{shown(url)}: no such file (HTTP 404)")
    if answer.status_code >= 400:
        raise LocationError(f"{shown(url)}: the server answered HTTP {answer.status_code}")
    total = answer.headers.get("content-range", "").rpartition("/")[2]
    size = int(total if total.isdigit() else answer.headers.get("content-length") or 0)
    version = answer.headers.get("etag") or answer.headers.get("last-modified") or ""
    return FileRef(shown(url), url, size, None, version=version)


class _HttpFile(io.RawIOBase):
    """An http(s) file read as a stream from the current position: one GET, and another
    from the new position (a byte range) after a seek."""

    def __init__(self, url: str, size: int) -> None:
        import httpx

        self._url = url
        self._size = size
        self._pos = 0
        self._client = httpx.Client(follow_redirects=True, timeout=HTTP_TIMEOUT)
        self._answer: Any = None
        self._chunks: Any = None
        self._left = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset != self._pos:
            self._drop()
            self._pos = base + offset
        return self._pos

    def _drop(self) -> None:
        if self._answer is not None:
            self._answer.close()
        self._answer, self._chunks, self._left = None, None, b""

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._answer is None:
            if self._size and self._pos >= self._size:
                return 0
            headers = {"Range": f"bytes={self._pos}-"} if self._pos else {}
            request = self._client.build_request("GET", self._url, headers=headers)
            self._answer = self._client.send(request, stream=True)
            status = self._answer.status_code
            if status >= 400 or (self._pos and status != 206):
                self._drop()
                why = f"HTTP {status}" if status >= 400 else "it does not serve byte ranges"
                raise LocationError(f"{shown(self._url)}: cannot read at {self._pos}: {why}")
            self._chunks = self._answer.iter_raw(HTTP_CHUNK)
        while not self._left:
            self._left = next(self._chunks, b"")
            if not self._left:
                return 0
        n = min(len(view), len(self._left))
        view[:n] = self._left[:n]
        self._left = self._left[n:]
        self._pos += n
        return n

    def close(self) -> None:
        self._drop()
        self._client.close()
        super().close()


# -- bytes -----------------------------------------------------------------------------------


class _Counted(io.RawIOBase):
    """A file's bytes, counted as they are read (``position``), compressed or not."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n: int = self._inner.readinto(buffer)
        self.position += n
        return n

    def close(self) -> None:
        self._inner.close()
        super().close()


class _Decoded(io.RawIOBase):
    """A decompressor's bytes; closing it closes the file under it too."""

    def __init__(self, inner: Any, file: _Counted) -> None:
        self._inner = inner
        self._file = file

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n: int = self._inner.readinto(buffer)
        return n

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._inner.read(size)
        return data

    def close(self) -> None:
        self._inner.close()
        self._file.close()
        super().close()


class Opener:
    """Fresh streams of one file's bytes, through the codec its first bytes name;
    ``position`` is the bytes of the file the latest stream has read."""

    def __init__(self, ref: FileRef) -> None:
        self.ref = ref
        try:
            with ref.stream() as f:
                head = f.read(8)
        except (OSError, LocationError) as exc:
            raise LocationError(f"{ref.name}: cannot read it: {exc}") from None
        self.kind = next((name for magic, name in MAGIC if head.startswith(magic)), None)
        self._latest: _Counted | None = None

    def __call__(self) -> io.RawIOBase:
        counted = self._latest = _Counted(self.ref.stream())
        raw: Any
        if self.kind == "gzip":
            raw = gzip.GzipFile(fileobj=counted, mode="rb")
        elif self.kind == "bz2":
            raw = bz2.BZ2File(counted, "rb")
        elif self.kind == "xz":
            raw = lzma.LZMAFile(cast(IO[bytes], counted), "rb")  # noqa: SIM115 (closed by _Decoded)
        elif self.kind == "zstd":
            raw = pa.input_stream(counted, compression="zstd")
        else:
            return counted
        return _Decoded(raw, counted)

    def position(self) -> int:
        return self._latest.position if self._latest is not None else 0


def local_path(ref: FileRef) -> Path | None:
    """The local path of a file, where it is one."""
    return Path(ref.path) if ref.fs is None and not _is_http(ref.path) else None
