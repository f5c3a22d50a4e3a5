"""The `ragqa` command: index, serve, ask, mcp, eval, versions, rollback."""

from __future__ import annotations

import click

from service.cli.build import index, rollback, versions
from service.cli.common import Group
from service.cli.measure import eval_
from service.cli.run import ask, mcp_, serve


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ragqa")
def main() -> None:
    """Question answering over a news corpus, with checkable citations."""


for command in (index, serve, ask, mcp_, eval_, versions, rollback):
    main.add_command(command)
