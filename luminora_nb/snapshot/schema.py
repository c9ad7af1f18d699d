"""The JSON Schema of snapshot documents, generated from the pydantic model.

Run ``python -m luminora_nb.snapshot.schema`` to rewrite the shipped file
(``snapshot.schema.json`` beside this module) after changing
:mod:`luminora_nb.snapshot.model`; a test fails when the file is stale.

Example:
    >>> snapshot_json_schema()["required"][:2]
    ['_snapshot_info', 'persona']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..types._base import generated_json_schema, schema_file_text
from .model import SnapshotDocument

__all__ = ["SCHEMA_ID", "SCHEMA_PATH", "main", "render_schema", "snapshot_json_schema"]

SCHEMA_PATH = Path(__file__).with_name("snapshot.schema.json")
SCHEMA_ID = "https://luminora-nb.dev/schemas/snapshot.schema.json"


def snapshot_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a snapshot document (keys by their JSON names)."""
    return generated_json_schema(SnapshotDocument, SCHEMA_ID, by_alias=True)


def render_schema() -> str:
    """The schema as the exact text of the shipped file."""
    return schema_file_text(snapshot_json_schema())


def main() -> None:
    """Write the schema file next to this module."""
    SCHEMA_PATH.write_text(render_schema(), encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")


if __name__ == "__main__":
    main()
