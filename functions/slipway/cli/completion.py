"""`slipway completion SHELL`: the shell completion script, from click's own completion support.

The same script comes from ``_SLIPWAY_COMPLETE=bash_source slipway`` (``zsh_source``,
``fish_source``); this command is the spelling that is easier to remember.
"""

from __future__ import annotations

import click


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(click_ctx: click.Context, shell: str) -> None:
    """Print the shell completion script (e.g. eval "$(slipway completion bash)")."""
    from click.shell_completion import get_completion_class

    from slipway.cli import PROG

    root = click_ctx.find_root().command
    completer = get_completion_class(shell)
    if completer is None:  # click knows all three choices; a future click might not
        raise click.UsageError(f"no completion for {shell}")
    click.echo(completer(root, {}, PROG, f"_{PROG.upper()}_COMPLETE").source())
