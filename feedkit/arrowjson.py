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

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Field metadata of a string column whose values are JSON text standing for JSON values (a
# list of objects, mixed types): they are written back as JSON, not as strings.
JSON_METADATA = {b"feedkit": b"json"}
_CONTROL = [chr(i) for i in range(0x20)]
_SHORT = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def json_string(arr: pa.Array) -> pa.Array:
    """Quoted, escaped JSON strings from a string array (nulls stay null)."""
    out = pc.cast(arr, pa.string())
    # One numpy pass finds which characters need escaping; only those get a replace pass.
    present = _escaped_bytes(out)
    if 0x5C in present:  # the backslash first, before escapes add more of them
        out = pc.replace_substring(out, "\\", "\\\\")
    for code in present:
        if code != 0x5C:
            ch = chr(code)
            out = pc.replace_substring(out, ch, _SHORT.get(ch, '\\"' if ch == '"' else
                                                           f"\\u{code:04x}"))  # fmt: skip
    return pc.binary_join_element_wise('"', out, '"', "")


def _escaped_bytes(arr: pa.Array) -> list[int]:
    """The distinct bytes in a string array's data that JSON escapes (control characters,
    '"' and '\\'); UTF-8 never uses them inside a multi-byte character."""
    if isinstance(arr, pa.ChunkedArray):
        return sorted({c for chunk in arr.chunks for c in _escaped_bytes(chunk)})
    data = arr.buffers()[2]
    if data is None or not len(arr):
        return []
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[
        arr.offset : arr.offset + len(arr) + 1
    ]
    raw = np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]]
    hits = raw[(raw < 0x20) | (raw == 0x22) | (raw == 0x5C)]
    return np.unique(hits).tolist() if len(hits) else []


def json_value(arr: pa.Array) -> pa.Array:
    """JSON fragments for any supported Arrow type; non-finite floats become null."""
    t = arr.type
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return json_string(arr)
    if pa.types.is_boolean(t):
        return pc.if_else(arr, "true", "false")
    if pa.types.is_integer(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_floating(t):
        arr = pc.cast(arr, pa.float64())
        finite = pc.is_finite(arr)
        text = pc.cast(arr, pa.string())
        # Arrow writes 2.0 as "2": keep it a float in JSON (and -0.0 as -0.0).
        whole = pc.match_substring_regex(text, "^-?[0-9]+$")
        text = pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)
        return pc.if_else(finite, text, pa.scalar(None, pa.string()))
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return json_string(rfc3339(arr))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return json_list(arr)
    if pa.types.is_struct(t):
        members = [
            (f.name, arr.field(i) if is_json_field(f) else json_value(arr.field(i)))
            for i, f in enumerate(t)
        ]
        return pc.if_else(arr.is_null(), pa.scalar(None, pa.string()), json_object(members))
    raise TypeError(f"cannot write {t} as JSON")


def is_json_field(f: pa.Field) -> bool:
    """Whether a string field holds JSON text (see ``JSON_METADATA``)."""
    return bool(f.metadata) and f.metadata.get(b"feedkit") == b"json"


def rfc3339(arr: pa.Array) -> pa.Array:
    """RFC 3339 UTC strings ('...Z') from timestamps (tz-aware) or dates."""
    if pa.types.is_date(arr.type):
        return pc.strftime(pc.cast(arr, pa.timestamp("s", tz="UTC")), "%Y-%m-%dT%H:%M:%SZ")
    text = pc.strftime(arr, "%Y-%m-%dT%H:%M:%S")
    return pc.binary_join_element_wise(text, "Z", "")


def json_list(arr: pa.Array) -> pa.Array:
    """JSON arrays from a list array; null elements are kept as null, null lists stay null."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    values = json_value(arr.flatten())
    values = pc.fill_null(values, "null")
    offsets = arr.offsets
    start = offsets[0].as_py()
    if start:
        offsets = pc.subtract(offsets, start)
    rebuilt = pa.ListArray.from_arrays(offsets, values, mask=arr.is_null())
    joined = pc.binary_join(rebuilt, ",")
    return pc.binary_join_element_wise("[", joined, "]", "")


def join_skipping_nulls(arrays: Sequence[pa.Array], separator: str) -> pa.Array:
    """Each row's non-null strings joined by ``separator`` ('' when all are null).

    A leading '' keeps every row present: pyarrow's ``null_handling="skip"`` drops the rows
    whose inputs are all null (the result comes out shorter than its inputs).
    """
    joined = pc.binary_join_element_wise("", *arrays, separator, null_handling="skip")
    return pc.utf8_slice_codeunits(joined, len(separator))


def json_object(
    members: Sequence[tuple[str, pa.Array]],
    *,
    empty_as_null: bool = False,
    first_present: bool = False,
) -> pa.Array:
    """JSON objects from (key, fragment array) pairs; null fragments are left out.

    ``first_present`` promises that the first member is never null, which saves a pass.
    """
    if not members:
        raise ValueError("an object needs at least one member")
    if first_present:
        (key, fragment), rest = members[0], members[1:]
        parts = [pc.binary_join_element_wise("{" + json_key(key), fragment, "")]
        parts += [pc.binary_join_element_wise("," + json_key(k), f, "") for k, f in rest]
        # No row is all null (the first never is), so pyarrow's skip keeps every row.
        body = pc.binary_join_element_wise(*parts, "", null_handling="skip")
        return pc.binary_join_element_wise(body, "}", "")
    parts = [pc.binary_join_element_wise(json_key(key), fragment, "") for key, fragment in members]
    body = join_skipping_nulls(parts, ",")
    out = pc.binary_join_element_wise("{", body, "}", "")
    if empty_as_null:
        out = pc.if_else(pc.equal(body, ""), pa.scalar(None, pa.string()), out)
    return out


def json_key(key: str) -> str:
    """A member's key with its colon, escaped as JSON."""
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    for ch in _CONTROL:
        escaped = escaped.replace(ch, _SHORT.get(ch, f"\\u{ord(ch):04x}"))
    return f'"{escaped}":'


def json_array_of(fragments: Sequence[pa.Array], length: int) -> pa.Array:
    """A JSON array per row from several fragment arrays, skipping nulls; null when empty."""
    if not fragments:
        return pa.nulls(length, pa.string())
    body = join_skipping_nulls(fragments, ",")
    out = pc.binary_join_element_wise("[", body, "]", "")
    return pc.if_else(pc.equal(body, ""), pa.scalar(None, pa.string()), out)


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
