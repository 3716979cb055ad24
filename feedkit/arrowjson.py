"""JSON text built column by column with Arrow compute: no Python loop over rows.

Each function turns an Arrow array into an array of JSON fragments (one per row, null where
the value is absent), so a million activities become request-ready JSON in a few vectorised
passes. Objects skip their null members, as the protocol's clients strip nulls::

    >>> import pyarrow as pa
    >>> obj = json_object([("a", json_value(pa.array([1, None]))),
    ...                    ("b", json_value(pa.array(['x"y', "z"])))])
    >>> obj.to_pylist()
    ['{"a":1,"b":"x\\\\"y"}', '{"b":"z"}']
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Field metadata of a string column whose values are JSON text standing for JSON values (a
# list of objects, mixed types): they are written back as JSON, not as strings.
JSON_METADATA = {b"feedkit": b"json"}
_CONTROL = [chr(i) for i in range(0x20)]
_SHORT = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class Wrapped(NamedTuple):
    """A JSON fragment not yet written out: ``open + inner + close``, null where ``inner`` is.

    :func:`json_object` writes the wrapping in the same pass as the rest of the object, so a
    string (or a list of strings) is copied once instead of once per wrapping.
    """

    inner: pa.Array
    open: str
    close: str


Fragment: TypeAlias = "pa.Array | Wrapped"


def escape(arr: pa.Array) -> pa.Array:
    """The escaped text of JSON strings, without their quotes (nulls stay null)."""
    out = pc.cast(arr, pa.string())
    if isinstance(out, pa.ChunkedArray):
        return _replaced(out, _escaped_bytes(out))
    # One numpy pass finds the bytes to escape; only the rows holding them are rewritten
    # (mostly a few: the others are copied once, not once per character escaped).
    at = _escaped_at(out)
    if not len(at):
        return out
    rows = np.zeros(len(out), dtype=bool)
    rows[np.searchsorted(_offsets(out), at, side="right") - 1] = True
    present = _escaped_bytes(out, at)
    if rows.sum() * 2 > len(out):
        return _replaced(out, present)
    mask = pa.array(rows)
    return pc.replace_with_mask(out, mask, _replaced(out.filter(mask), present))


def _replaced(out: pa.Array, present: list[int]) -> pa.Array:
    """``out`` with each of the ``present`` bytes replaced by its JSON escape."""
    if 0x5C in present:  # the backslash first, before escapes add more of them
        out = pc.replace_substring(out, "\\", "\\\\")
    for code in present:
        if code != 0x5C:
            ch = chr(code)
            out = pc.replace_substring(out, ch, _SHORT.get(ch, '\\"' if ch == '"' else
                                                           f"\\u{code:04x}"))  # fmt: skip
    return out


def quoted(arr: pa.Array) -> Wrapped:
    """JSON strings from a string array, quoted when written."""
    return Wrapped(escape(arr), '"', '"')


def written(fragment: Fragment) -> pa.Array:
    """A fragment as an array of JSON text."""
    if isinstance(fragment, Wrapped):
        return pc.binary_join_element_wise(fragment.open, fragment.inner, fragment.close, "")
    return fragment


def json_string(arr: pa.Array) -> pa.Array:
    """Quoted, escaped JSON strings from a string array (nulls stay null)."""
    return written(quoted(arr))


def _escaped_bytes(arr: pa.Array, at: np.ndarray | None = None) -> list[int]:
    """The distinct bytes in a string array's data that JSON escapes (control characters,
    '"' and '\\'; UTF-8 never uses them inside a multi-byte character), given where they
    lie (``at``) when known."""
    if isinstance(arr, pa.ChunkedArray):
        return sorted({c for chunk in arr.chunks for c in _escaped_bytes(chunk)})
    at = _escaped_at(arr) if at is None else at
    return np.unique(np.frombuffer(arr.buffers()[2], np.uint8)[at]).tolist() if len(at) else []


def _offsets(arr: pa.Array) -> np.ndarray:
    """A string array's value offsets (its slice of them), as numpy sees its buffer."""
    return np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]


def _escaped_at(arr: pa.Array) -> np.ndarray:
    """Where the bytes JSON escapes lie in a string array's data buffer (in its values)."""
    data = arr.buffers()[2]
    if data is None or not len(arr):
        return np.empty(0, dtype=np.intp)
    offsets = _offsets(arr)
    raw = np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]]
    hit = raw < 0x20  # (in place: one temporary instead of three)
    hit |= raw == 0x22
    hit |= raw == 0x5C
    return np.flatnonzero(hit) + int(offsets[0])


def json_value(arr: pa.Array) -> pa.Array:
    """JSON text for any supported Arrow type; non-finite floats become null."""
    return written(json_fragment(arr))


def json_fragment(arr: pa.Array) -> Fragment:
    """Like :func:`json_value`, but strings, times and lists of strings stay unwrapped."""
    t = arr.type
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return quoted(arr)
    if pa.types.is_boolean(t):
        return pc.if_else(arr, "true", "false")
    if pa.types.is_integer(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_floating(t):
        arr = pc.cast(arr, pa.float64())
        if isinstance(arr, pa.Array) and arr.null_count:  # only the present ones written
            return _spread(_float_text(arr.drop_null()), arr.is_valid())
        return _float_text(arr)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return Wrapped(rfc3339(arr), '"', '"')  # digits, '-', ':', '.', 'T', 'Z': no escapes
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return json_list(arr)
    if pa.types.is_struct(t):
        members = [
            (f.name, arr.field(i) if is_json_field(f) else json_fragment(arr.field(i)))
            for i, f in enumerate(t)
        ]
        return with_validity(json_object(members), pc.is_valid(arr))
    raise TypeError(f"cannot write {t} as JSON")


def _float_text(arr: pa.Array) -> pa.Array:
    """JSON numbers from float64s; non-finite ones null."""
    finite = pc.is_finite(arr)
    text = pc.cast(arr, pa.string())
    # Arrow writes 2.0 as "2": keep it a float in JSON (and -0.0 as -0.0).
    whole = pc.match_substring_regex(text, "^-?[0-9]+$")
    text = pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)
    return pc.if_else(finite, text, pa.scalar(None, pa.string()))


def _spread(values: pa.Array, where: pa.Array) -> pa.Array:
    """A string array as long as ``where``, holding ``values`` (one per true row, in order)
    where it is true and null elsewhere: the values' data are not copied."""
    valid = where.to_numpy(zero_copy_only=False)
    lengths = np.zeros(len(valid), dtype=np.int32)
    lengths[valid] = np.diff(_offsets(values))
    offsets = np.empty(len(valid) + 1, dtype=np.int32)
    offsets[0] = _offsets(values)[0] if len(values) else 0
    np.cumsum(lengths, out=offsets[1:])
    offsets[1:] += offsets[0]
    if values.null_count:
        valid = valid.copy()
        valid[valid] = values.is_valid().to_numpy(zero_copy_only=False)
    nulls = int(len(valid) - valid.sum())
    bitmap = pa.array(valid).buffers()[1] if nulls else None
    data = values.buffers()[2] or pa.py_buffer(b"")
    return pa.Array.from_buffers(pa.string(), len(valid), [bitmap, pa.py_buffer(offsets), data],
                                 nulls)  # fmt: skip


def is_json_field(f: pa.Field) -> bool:
    """Whether a string field holds JSON text (see ``JSON_METADATA``)."""
    return bool(f.metadata) and f.metadata.get(b"feedkit") == b"json"


def rfc3339(arr: pa.Array) -> pa.Array:
    """RFC 3339 UTC strings ('...Z') from timestamps (tz-aware) or dates."""
    if pa.types.is_date(arr.type):
        arr = pc.cast(arr, pa.timestamp("s", tz="UTC"))
    if arr.type == pa.timestamp("ns", tz="UTC") and isinstance(arr, pa.Array):
        fast = _utc_text(arr)
        if fast is not None:
            return fast
    return pc.strftime(arr, "%Y-%m-%dT%H:%M:%SZ")


_NS_TEXT = len("2000-01-01T00:00:00.000000000Z")  # every nanosecond time: years 1677-2262


def _utc_text(arr: pa.Array) -> pa.Array | None:
    """What ``strftime(arr, "%Y-%m-%dT%H:%M:%SZ")`` writes for UTC nanosecond timestamps
    (nine digits of fraction), formatted by numpy for the present values alone (Arrow's
    strftime takes about a microsecond a value); None where numpy would not say the same
    (its NaT, the smallest int64)."""
    ints = arr.drop_null().cast(pa.int64()).to_numpy()
    if len(ints) and ints.min() == np.iinfo(np.int64).min:
        return None
    text = np.char.add(np.datetime_as_string(ints.astype("datetime64[ns]"), unit="ns"), "Z")
    offsets = pa.py_buffer(np.arange(len(ints) + 1, dtype=np.int32) * _NS_TEXT)
    data = pa.py_buffer(text.astype(f"S{_NS_TEXT}").tobytes())
    return _spread(pa.Array.from_buffers(pa.string(), len(ints), [None, offsets, data]),
                  arr.is_valid())  # fmt: skip


def json_list(arr: pa.Array) -> Fragment:
    """JSON arrays from a list array; null elements are kept as null, null lists stay null."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    flat = arr.flatten()
    # Rebased always: a slice's offsets (even from 0) cannot carry a null bitmap.
    offsets = pc.subtract(arr.offsets, arr.offsets[0])
    mask = arr.is_null()
    value = json_fragment(flat)
    if isinstance(value, Wrapped) and value.open == '"' and not flat.null_count:
        # Strings, none null, in lists none empty: '["' + items joined by '","' + '"]'.
        lengths = pc.list_value_length(arr)
        if not pc.any(pc.equal(lengths, 0)).as_py():
            rebuilt = pa.ListArray.from_arrays(offsets, value.inner, mask=mask)
            return Wrapped(pc.binary_join(rebuilt, '","'), '["', '"]')
    values = pc.fill_null(written(value), "null")
    rebuilt = pa.ListArray.from_arrays(offsets, values, mask=mask)
    return Wrapped(pc.binary_join(rebuilt, ","), "[", "]")


def with_validity(arr: pa.Array, valid: pa.Array | np.ndarray) -> pa.Array:
    """``arr`` with null wherever ``valid`` is false (or ``arr`` is null); no data copied."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    keep = np.asarray(
        valid.to_numpy(zero_copy_only=False) if isinstance(valid, pa.Array) else valid, bool
    )
    if arr.null_count:
        keep = keep & arr.is_valid().to_numpy(zero_copy_only=False)
    if keep.all():
        return arr
    bitmap = pa.array(keep).buffers()[1]
    assert arr.type in (pa.string(), pa.large_string()), arr.type
    buffers = arr.buffers()
    if arr.offset:  # a slice: rebase so the new bitmap lines up with the values
        arr = pc.binary_join_element_wise(arr, "", "")
        buffers = arr.buffers()
    return pa.Array.from_buffers(arr.type, len(arr), [bitmap, buffers[1], buffers[2]])


def _shadow(text: str, like: pa.Array) -> pa.Array | str:
    """``text`` in every row where ``like`` is valid, null elsewhere (``text`` itself when
    ``like`` has no nulls): the key of a member that may be absent."""
    if not like.null_count:
        return text
    raw = text.encode()
    n = len(like)
    offsets = np.arange(n + 1, dtype=np.int32) * len(raw)
    bitmap = pc.is_valid(like).buffers()[1]
    return pa.Array.from_buffers(
        pa.string(), n, [bitmap, pa.py_buffer(offsets), pa.py_buffer(raw * n)]
    )


def _pieces(prefix: str, fragment: Fragment) -> list[pa.Array | str]:
    """The arguments that write ``prefix`` then ``fragment`` where the fragment is present."""
    if isinstance(fragment, Wrapped):
        inner = fragment.inner
        if isinstance(inner, pa.ChunkedArray):
            inner = inner.combine_chunks()
        return [_shadow(prefix + fragment.open, inner), inner, _shadow(fragment.close, inner)]
    if isinstance(fragment, pa.ChunkedArray):
        fragment = fragment.combine_chunks()
    return [_shadow(prefix, fragment), fragment]


def join_skipping_nulls(arrays: Sequence[pa.Array], separator: str) -> pa.Array:
    """Each row's non-null strings joined by ``separator`` ('' when all are null).

    A leading '' keeps every row present: pyarrow's ``null_handling="skip"`` drops the rows
    whose inputs are all null (the result comes out shorter than its inputs).
    """
    joined = pc.binary_join_element_wise("", *arrays, separator, null_handling="skip")
    return pc.utf8_slice_codeunits(joined, len(separator))


def json_object(
    members: Sequence[tuple[str, Fragment]],
    *,
    empty_as_null: bool = False,
    first_present: bool = False,
    wrap: tuple[str, str] = ("", ""),
) -> pa.Array:
    """JSON objects from (key, fragment) pairs, written in one pass; null fragments are left
    out. ``first_present`` promises that the first member is never null (no row needs its
    first present member found); ``empty_as_null`` makes a row with no member null. ``wrap``
    is text written before and after each object in the same pass (an import file's line
    around its data: no second pass copies every object into its line)."""
    if not members:
        raise ValueError("an object needs at least one member")
    before, after = wrap[0] + "{", "}" + wrap[1]
    if first_present:
        (key, fragment), rest = members[0], members[1:]
        pieces = _pieces(before + json_key(key), fragment)
        for k, f in rest:
            pieces += _pieces("," + json_key(k), f)
        return _concatenated([*pieces, after])
    valid = np.stack(
        [_inner(f).is_valid().to_numpy(zero_copy_only=False) for _, f in members], axis=1
    )
    if not len(valid):
        return pa.array([], pa.string())
    present = valid.any(axis=1)
    starts = valid.argmax(axis=1)  # each row's first present member: no comma before it
    lo, hi = int(starts.min()), int(starts.max())
    args: list[pa.Array | str] = [before]
    for i, (k, f) in enumerate(members):
        key = json_key(k)
        if lo == i == hi or not valid[:, i].any():
            args += _pieces(key if i == lo else "," + key, f)
            continue
        first = pa.array(starts == i, mask=~valid[:, i])  # null where the member is absent
        inner = _inner(f)
        if isinstance(f, Wrapped):
            prefix = pc.if_else(first, key + f.open, "," + key + f.open)
            args += [prefix, inner, _shadow(f.close, inner)]
        else:
            args += [pc.if_else(first, key, "," + key), inner]
    out = _concatenated([*args, after])
    return with_validity(out, present) if empty_as_null else out


def _concatenated(pieces: list[pa.Array | str]) -> pa.Array:
    """Each row's pieces one after the other, null ones left out; text that every row has
    (a member's close and the next one's key, both never absent) goes in as one piece."""
    merged: list[pa.Array | str] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return pc.binary_join_element_wise(*merged, "", null_handling="skip")


def _inner(fragment: Fragment) -> pa.Array:
    return fragment.inner if isinstance(fragment, Wrapped) else fragment


@functools.lru_cache(maxsize=4096)
def json_key(key: str) -> str:
    """A member's key with its colon, escaped as JSON (cached: a batch writes each key of its
    objects, and a source has few keys)."""
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    for ch in _CONTROL:
        escaped = escaped.replace(ch, _SHORT.get(ch, f"\\u{ord(ch):04x}"))
    return f'"{escaped}":'


def json_array_of(fragments: Sequence[pa.Array], length: int) -> Fragment:
    """A JSON array per row from several fragment arrays, skipping nulls; null when empty."""
    if not fragments:
        return pa.nulls(length, pa.string())
    if len(fragments) == 1:  # nothing to skip: the brackets are written with the element
        return Wrapped(fragments[0], "[", "]")
    valid = np.stack([f.is_valid().to_numpy(zero_copy_only=False) for f in fragments], axis=1)
    body = join_skipping_nulls(fragments, ",")
    out = pc.binary_join_element_wise("[", body, "]", "")
    return with_validity(out, valid.any(axis=1))


def list_from_columns(arrays: Sequence[pa.Array]) -> pa.Array:
    """A list<string> per row from several string arrays, leaving out nulls."""
    n, k = len(arrays[0]), len(arrays)
    combined = pa.concat_arrays([pc.cast(a, pa.string()) for a in arrays])
    order = (np.arange(k)[None, :] * n + np.arange(n)[:, None]).ravel()
    interleaved = combined.take(pa.array(order))
    valid = pc.is_valid(interleaved).to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(valid.reshape(n, k).sum(axis=1))])
    return pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()), interleaved.filter(pa.array(valid))
    )
