"""The README's configuration table names every setting (the table is written by hand)."""

from __future__ import annotations

from service.settings import Settings
from tests.conftest import ROOT

# Set by `ragqa serve` for its own worker processes, not by users.
INTERNAL = {"shared_dir"}


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    table = readme[readme.index("## Configuration") : readme.index("## Architecture")]
    missing = [
        f"RAGQA_{name.upper()}"
        for name in Settings.model_fields
        if name not in INTERNAL and f"`RAGQA_{name.upper()}`" not in table
    ]
    assert not missing, f"not in the README's configuration table: {missing}"
