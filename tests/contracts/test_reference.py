"""The README's generated reference blocks (table columns, spec keys) match the code: a schema
change without `python -m raysweep.tools.reference --write README.md` fails here."""
from __future__ import annotations

from pathlib import Path

from raysweep.tools import reference
from raysweep.results.schema import EPOCH_SCHEMA, TRIAL_BASE

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_reference_blocks_are_current():
    text = README.read_text()
    assert reference.render(text) == text, "run: python -m raysweep.tools.reference --write README.md"


def test_blocks_name_every_column_and_key():
    text = README.read_text()
    for f in [*TRIAL_BASE, *EPOCH_SCHEMA]:
        assert f"| `{f.name}` |" in text
    assert "| `callbacks` | list[CallbackSpec] |" in text and "**ModelSource**" in text


def test_a_drifted_block_is_caught():
    """Control: a README missing a column would fail the first test."""
    text = README.read_text()
    row = next(line for line in text.splitlines(keepends=True) if line.startswith("| `trial_id` | string |"))
    assert reference.render(text.replace(row, "", 1)) != text.replace(row, "", 1)
