"""The mapping grammar: templates, list specs, locations, objects, attachments, column types.

Every refusal is a :class:`MappingError` (a ``ValueError``) whose ``field`` names the place in
the mapping that is wrong; these tests assert on that field, not on the prose.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import feedkit
from feedkit.errors import FeedkitError
from feedkit.mapping import (
    COLUMN_TYPES,
    Location,
    Mapping,
    MappingError,
    ObjectSpec,
    SplitColumn,
    Template,
)

BASE: dict[str, Any] = {"id": {"derive": True}, "type": "post", "feeds": ["user:alice"]}


def _refused(activity: dict[str, Any], columns: dict[str, str] | None = None) -> MappingError:
    with pytest.raises(MappingError) as caught:
        Mapping.build(activity, columns)
    return caught.value


def test_mapping_error_is_a_value_error_and_a_feedkit_error() -> None:
    assert issubclass(MappingError, ValueError)
    assert issubclass(MappingError, FeedkitError)
    assert feedkit.MappingError is MappingError
    error = MappingError("bad", field="text", columns=["a"])
    assert (error.field, error.columns, str(error)) == ("text", ["a"], "text: bad")


# -- templates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("post", ("post",)),
        ("{col}", (("col",),)),
        ("{ col }", (("col",),)),
        ("user:{author}", ("user:", ("author",))),
        ("{a}-{b}!", (("a",), "-", ("b",), "!")),
        ("{a}{b}", (("a",), ("b",))),
        ("{{literal}}", ("{literal}",)),
        ("{{{col}}}", ("{", ("col",), "}")),
        ("a}}b{{c", ("a}b{c",)),
        ("{{}}", ("{}",)),
        ("", ()),
        ("emoji 😀 {c} 中文", ("emoji 😀 ", ("c",), " 中文")),
    ],
)
def test_template_parts(text: str, parts: tuple[Any, ...]) -> None:
    assert Template.parse(text, "text").parts == parts


def test_template_literal_whole_and_columns() -> None:
    literal = Template.parse("a {{b}}", "text")
    assert (literal.literal, literal.whole, literal.columns) == ("a {b}", None, [])
    whole = Template.parse("{col}", "text")
    assert (whole.literal, whole.whole, whole.columns) == (None, "col", ["col"])
    mixed = Template.parse("{a} and {b} and {a}", "text")
    assert (mixed.literal, mixed.whole, mixed.columns) == (None, None, ["a", "b", "a"])


@pytest.mark.parametrize(
    "text", ["{col", "col}", "a { b", "}{", "{a{b}", "{a}}", "{{a}", "{}", "{  }", "x{}y"]
)
def test_bad_template_is_refused_naming_the_field(text: str) -> None:
    assert _refused({**BASE, "text": text}).field == "text"


def test_bad_template_deep_in_the_mapping_names_its_place() -> None:
    assert _refused({"type": "post", "feeds": ["user:{a}", "topic:{b"]}).field == "feeds[1]"
    assert _refused({**BASE, "custom": {"x": "{"}}).field == "custom.x"
    bad_attachment = {**BASE, "attachments": [{"image_url": "{img}", "title": "}"}]}
    assert _refused(bad_attachment).field == "attachments[0].title"


def test_literals_and_numbers() -> None:
    m = Mapping.build({**BASE, "poll_id": 7, "text": 1.5})
    assert m.fields["type"] == Template(("post",))
    assert m.fields["poll_id"] == Template(("7",))
    assert m.fields["text"] == Template(("1.5",))
    assert m.columns == []


@pytest.mark.parametrize("value", [True, None, ["a"], {"a": "b"}])
def test_a_string_field_takes_a_template(value: Any) -> None:
    assert _refused({**BASE, "text": value}).field == "text"


@pytest.mark.parametrize("name", ["type", "visibility", "restrict_replies", "expires_at"])
def test_string_choice_and_time_fields_take_templates(name: str) -> None:
    m = Mapping.build({**BASE, name: "{col}"})
    assert m.fields[name] == Template.column("col")


def test_created_at_may_be_mapped() -> None:
    assert Mapping.build({**BASE, "created_at": "{when}"}).fields["created_at"] == Template(
        (("when",),)
    )


# -- list fields ---------------------------------------------------------------------------


def test_list_of_templates() -> None:
    m = Mapping.build({**BASE, "feeds": ["user:{author}", "topic:{topic}", "global:all"]})
    assert m.fields["feeds"] == (
        Template(("user:", ("author",))),
        Template(("topic:", ("topic",))),
        Template(("global:all",)),
    )


def test_split_column() -> None:
    m = Mapping.build(
        {
            **BASE,
            "filter_tags": {"column": "tags", "split": ","},
            "interest_tags": {"column": "topics"},
        }
    )
    assert m.fields["filter_tags"] == SplitColumn("tags", ",")
    assert m.fields["interest_tags"] == SplitColumn("topics", None)


def test_whole_reference_of_a_list_column() -> None:
    m = Mapping.build({**BASE, "mentioned_user_ids": "{mentions}"})
    assert m.fields["mentioned_user_ids"] == SplitColumn("mentions")


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("tags:{tags}", "filter_tags"),  # text around a reference: not a list
        ("literal", "filter_tags"),
        ({"column": "tags", "sep": ","}, "filter_tags"),
        ({"split": ","}, "filter_tags"),
        ({"column": 3}, "filter_tags"),
        ({"column": "tags", "split": ""}, "filter_tags"),
        ({"column": "tags", "split": 5}, "filter_tags"),
        ([True], "filter_tags[0]"),
        (["ok", {"column": "x"}], "filter_tags[1]"),
        (["{open"], "filter_tags[0]"),
    ],
)
def test_bad_list_spec(value: Any, field: str) -> None:
    assert _refused({**BASE, "filter_tags": value}).field == field


# -- location --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [{"lat": "la", "lng": "lo"}, {"lat": "{la}", "lng": "{ lo }"}, {"lng": "lo", "lat": "la"}],
)
def test_location(value: dict[str, str]) -> None:
    m = Mapping.build({**BASE, "location": value})
    assert m.fields["location"] == Location("la", "lo")
    assert m.columns == ["la", "lo"]


@pytest.mark.parametrize(
    "value",
    [
        {"lat": "la"},
        {"lat": "la", "lng": "lo", "alt": "al"},
        {"lat": 1, "lng": 2},
        {"latitude": "la", "longitude": "lo"},
        "la,lo",
        ["la", "lo"],
    ],
)
def test_bad_location(value: Any) -> None:
    assert _refused({**BASE, "location": value}).field == "location"


# -- objects (custom, search_data) -------------------------------------------------------------


def test_custom_as_a_list_of_columns() -> None:
    m = Mapping.build({**BASE, "custom": ["likes", "{lang}"]})
    assert m.fields["custom"] == ObjectSpec(
        (("likes", Template.column("likes")), ("lang", Template.column("lang")))
    )
    assert m.columns == ["likes", "lang"]


def test_object_as_a_table_with_dotted_keys() -> None:
    m = Mapping.build(
        {**BASE, "search_data": {"title": "{title}", "meta.lang": "{lang}", "meta.v": 2}}
    )
    assert m.fields["search_data"] == ObjectSpec(
        (
            ("title", Template.column("title")),
            ("meta.lang", Template.column("lang")),
            ("meta.v", Template(("2",))),
        )
    )


def test_dotted_keys_nest_in_the_activity() -> None:
    df = pd.DataFrame({"u": ["a"], "n": [5], "lang": ["en"], "title": ["Hi"]})
    m = Mapping.build(
        {
            **BASE,
            "feeds": ["user:{u}"],
            "custom": {"stats.likes": "{n}", "stats.lang.code": "{lang}", "top": "x"},
            "search_data": {"title": "{title}", "by": "{u} ({lang})"},
        }
    )
    (activity,) = feedkit.to_activities(df, m).activities
    assert activity["custom"] == {"stats": {"likes": 5, "lang": {"code": "en"}}, "top": "x"}
    assert activity["search_data"] == {"title": "Hi", "by": "a (en)"}


@pytest.mark.parametrize(
    "value",
    [
        {"a": "{x}", "a.b": "{y}"},  # "a" is a value, then a table
        {"a.b": "{y}", "a": "{x}"},  # "a" is a table, then a value
        {"m.a": "{x}", "m.a.b": "{y}"},
    ],
    ids=["leaf-then-table", "table-then-leaf", "nested"],
)
def test_conflicting_dotted_keys_are_refused(value: dict[str, str]) -> None:
    # One key cannot be both a value and a table: the mapping is refused when built, naming
    # the object, rather than failing in conversion or dropping one of the two silently.
    error = _refused({**BASE, "custom": value})
    assert error.field.startswith("custom")


@pytest.mark.parametrize("value", ["likes", 3, [1, "a"], [["a"]], True])
def test_bad_object_spec(value: Any) -> None:
    assert _refused({**BASE, "custom": value}).field == "custom"


# -- attachments -------------------------------------------------------------------------------


def test_attachments() -> None:
    m = Mapping.build(
        {
            **BASE,
            "attachments": [
                {"type": "image", "image_url": "{img}", "custom": {"w": "{width}"}},
                {"asset_url": "https://cdn/{file}", "title": "{name}"},
            ],
        }
    )
    assert m.attachments == (
        ObjectSpec(
            (
                ("type", Template(("image",))),
                ("image_url", Template.column("img")),
                ("custom.w", Template.column("width")),
            )
        ),
        ObjectSpec(
            (
                ("asset_url", Template(("https://cdn/", ("file",)))),
                ("title", Template.column("name")),
            )
        ),
    )
    assert "attachments" not in m.fields
    assert m.columns == ["img", "width", "file", "name"]


@pytest.mark.parametrize("url", ["asset_url", "image_url", "thumb_url"])
def test_any_url_field_makes_an_attachment(url: str) -> None:
    m = Mapping.build({**BASE, "attachments": [{url: "{u}"}]})
    assert m.attachments == (ObjectSpec(((url, Template.column("u")),)),)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"image_url": "{img}"}, "attachments"),  # one table, not a list of tables
        ("{img}", "attachments"),
        (["{img}"], "attachments[0]"),
        ([{"type": "image", "title": "{t}"}], "attachments[0]"),  # no url field
        ([{"image_url": "{img}"}, {}], "attachments[1]"),
        ([{"image_url": "{img}", "colour": "red"}], "attachments[0]"),  # unknown key
        ([{"url": "{img}"}], "attachments[0]"),
        ([{"image_url": "{img}", "custom": "{c}"}], "attachments[0].custom"),
        ([{"image_url": "{img}", "custom": {"k": "{"}}], "attachments[0].custom.k"),
    ],
)
def test_bad_attachments(value: Any, field: str) -> None:
    assert _refused({**BASE, "attachments": value}).field == field


def test_unknown_attachment_key_is_named() -> None:
    error = _refused({**BASE, "attachments": [{"image_url": "{img}", "colour": "red"}]})
    assert "colour" in str(error)


# -- fields, sections, column types --------------------------------------------------------


def test_a_mapping_says_how_ids_are_made() -> None:
    error = _refused({"type": "post", "feeds": ["user:alice"]})
    assert error.field == "id" and "id = { derive = true }" in str(error)
    assert "becomes a new activity" in str(error)
    assert _refused({**BASE, "id": {"derive": "yes"}}).field == "id"
    derived = Mapping.build({**BASE, "text": "{t}"})
    assert derived.derive_ids and "id" not in derived.fields
    assert "id = { derive = true }" in derived.to_toml()
    assert Mapping.from_dict(tomllib.loads(derived.to_toml())).derive_ids
    assert not Mapping.build({**BASE, "id": "{pid}"}).derive_ids


@pytest.mark.parametrize("name", ["txt", "Type", "feed", "custom_data", "popularity", "deleted_at"])
def test_unknown_field_is_refused_by_name(name: str) -> None:
    error = _refused({**BASE, name: "{x}"})
    assert error.field == name
    assert name in str(error)


@pytest.mark.parametrize("kind", COLUMN_TYPES)
def test_column_types(kind: str) -> None:
    m = Mapping.build(BASE, {"c": kind})
    assert m.column_types == {"c": kind}


@pytest.mark.parametrize("kind", ["integer", "str", "datetime", ""])
def test_unknown_column_type_is_refused(kind: str) -> None:
    assert _refused(BASE, {"likes": kind}).field == "columns.likes"


def test_from_dict() -> None:
    m = Mapping.from_dict({"activity": {**BASE, "text": "{body}"}, "columns": {"n": "int"}})
    assert m == Mapping.build({**BASE, "text": "{body}"}, {"n": "int"})
    assert Mapping.from_dict({"activity": BASE}).column_types == {}


@pytest.mark.parametrize(
    "data",
    [
        {"activity": BASE, "column": {"n": "int"}},  # a misspelt section
        {"activities": BASE},
        {},
        {"columns": {"n": "int"}},
        {"activity": "post"},
    ],
)
def test_bad_sections_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(MappingError):
        Mapping.from_dict(data)


TOML = """
# The README's example.
[activity]
id = "{post_id}"
type = "post"
feeds = ["user:{author}", "topic:{topic}"]
text = "{body}"
filter_tags = { column = "tags", split = "," }
location = { lat = "lat", lng = "lng" }
custom = ["likes", "lang"]
search_data = { title = "{title}", "meta.braces" = "{{x}}" }

[[activity.attachments]]
type = "image"
image_url = "{image}"

[columns]
likes = "int"
"""


def test_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "posts.toml"
    path.write_text(TOML, encoding="utf-8")
    expected = Mapping.build(
        {
            "id": "{post_id}",
            "type": "post",
            "feeds": ["user:{author}", "topic:{topic}"],
            "text": "{body}",
            "filter_tags": {"column": "tags", "split": ","},
            "location": {"lat": "lat", "lng": "lng"},
            "custom": ["likes", "lang"],
            "search_data": {"title": "{title}", "meta.braces": "{{x}}"},
            "attachments": [{"type": "image", "image_url": "{image}"}],
        },
        {"likes": "int"},
    )
    assert Mapping.from_toml(path) == expected
    assert Mapping.from_toml(str(path)) == expected
    assert expected.fields["search_data"] == ObjectSpec(
        (("title", Template.column("title")), ("meta.braces", Template(("{x}",))))
    )


@pytest.mark.parametrize(
    "text", ['[activity\ntype = "post"', 'type = "post"\ntype = "x"', "[activity]\ntype = post"]
)
def test_from_toml_invalid_toml(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError, match="not valid TOML"):
        Mapping.from_toml(path)


def test_from_toml_bad_mapping_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[activity]\ntype = "post"\nfeeds = ["user:{a}"]\ntxt = "{b}"\n')
    with pytest.raises(MappingError) as caught:
        Mapping.from_toml(path)
    assert caught.value.field == "txt"


def test_columns_in_order_of_first_use() -> None:
    m = Mapping.build(
        {
            "id": "{pid}",
            "type": "post",
            "feeds": ["user:{author}", "topic:{topic}"],
            "text": "{body} by {author}",
            "location": {"lat": "la", "lng": "lo"},
            "custom": ["likes", "pid"],
            "filter_tags": {"column": "tags", "split": ","},
            "search_data": {"a.b": "{title}", "c": "{body}"},
            "attachments": [{"image_url": "{img}", "title": "{title}", "custom": {"k": "{z}"}}],
        }
    )
    assert m.columns == [
        "pid",
        "author",
        "topic",
        "body",
        "la",
        "lo",
        "likes",
        "tags",
        "title",
        "img",
        "z",
    ]
