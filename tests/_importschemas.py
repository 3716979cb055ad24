"""The vendor's import-file JSON Schemas (tests/reference/import-schemas) as one validator."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parent / "reference" / "import-schemas"


def validator() -> jsonschema.Draft202012Validator:
    """Validates one line (``{"type": ..., "data": ...}``) against its type's schema."""
    resources = [(p.name, Resource.from_contents(json.loads(p.read_text())))
                 for p in SCHEMAS.glob("*.json")]  # fmt: skip
    item = json.loads((SCHEMAS / "item.schema.json").read_text())
    return jsonschema.Draft202012Validator(item, registry=Registry().with_resources(resources))


def invalid_lines(path: Path) -> list[str]:
    """Every line of an import file its schema refuses, with why."""
    check = validator()
    return [
        f"line {n}: {e.message}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for e in check.iter_errors(json.loads(line))
    ]
