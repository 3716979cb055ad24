"""Key paths name any JSON key, so flattened columns fold back exactly."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import feedkit
from feedkit import keypath
from feedkit.mapping import MappingError

KEYS = st.lists(st.text(st.characters(exclude_categories=("Cs",))), min_size=1, max_size=5)


@given(KEYS)
def test_any_keys_join_and_split_back(keys: list[str]) -> None:
    path = "custom"
    for key in keys:
        path = keypath.join(path, key)
    assert keypath.split(path) == ["custom", *keys]
    assert "{" not in path and "}" not in path  # a template can reference it as a column


@pytest.mark.parametrize(
    ("key", "segment"),
    [("plain", "plain"), ("a b", "a b"), ("a.b", '"a.b"'), ("", '""'), (" a", '" a"'),
     ('"q', '"\\"q"'), ("{x}", '"\\u007bx\\u007d"'), ('a"b', 'a"b'), ("é", "é")],
)  # fmt: skip
def test_a_key_is_quoted_only_where_it_could_be_misread(key: str, segment: str) -> None:
    assert keypath.quote(key) == segment


@pytest.mark.parametrize("path", ["", "a..b", "a.", ".a", 'a."b', 'a."b"c', 'a."b'])
def test_a_malformed_path_is_refused(path: str) -> None:
    with pytest.raises(keypath.KeyPathError):
        keypath.split(path)


def test_a_mapping_names_the_key_it_cannot_read_or_that_repeats() -> None:
    base = {"id": "{pid}", "type": "post", "feeds": ["user:a"]}
    with pytest.raises(MappingError) as caught:
        feedkit.Mapping.build({**base, "custom": {"a..b": "{x}"}})
    assert caught.value.field == "custom.a..b" and "empty segment" in str(caught.value)
    with pytest.raises(MappingError, match=re.escape("names the key of 'a.b' again")):
        feedkit.Mapping.build({**base, "custom": {"a.b": "{x}", 'a."b"': "{y}"}})
    with pytest.raises(MappingError, match="set as a value and as an object"):
        feedkit.Mapping.build({**base, "custom": {"a": "{x}", "a.b": "{y}"}})
    built = feedkit.Mapping.build({**base, "custom": {'"a.b"': "{x}", "a.b": "{y}"}})
    assert len(built.fields["custom"].members) == 2  # one key with a dot, one nested
