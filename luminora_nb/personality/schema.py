"""The JSON Schema of persona definitions, generated from the pydantic model.

Run ``python -m luminora_nb.personality.schema`` to rewrite the shipped file after
changing :mod:`luminora_nb.types.persona`; a test fails when the file is stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..types._base import generated_json_schema, schema_file_text
from ..types.persona import PersonaDefinition

__all__ = ["SCHEMA_PATH", "persona_json_schema", "render_schema"]

SCHEMA_PATH = Path(__file__).with_name("persona.schema.json")
SCHEMA_ID = "https://luminora-nb.dev/schemas/persona.schema.json"


def persona_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a full persona definition."""
    return generated_json_schema(PersonaDefinition, SCHEMA_ID)


def render_schema() -> str:
    """The schema as the exact text of the shipped file."""
    return schema_file_text(persona_json_schema())


def main() -> None:
    """Write the schema file next to this module."""
    SCHEMA_PATH.write_text(render_schema(), encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")


if __name__ == "__main__":
    main()
