"""How the `slipway` command prints: plain and stable off a terminal, coloured on one; completion; failures."""

from __future__ import annotations

import io

import pytest
from botocore.exceptions import NoCredentialsError

from slipway.cli.failure import failure_line
from slipway.cli.output import make_console, render_fields, render_table, show, table_of
from slipway.errors import AwsError, SlipwayError


def test_render_table_not_a_terminal_is_plain_columns_two_spaces_apart() -> None:
    text = render_table(["A", "STATUS", "WHY"], [["prod/web", "SUCCEEDED", "[ERROR] :smile:"], ["x", "-", "b"]])

    assert text.splitlines() == [
        "A         STATUS     WHY",
        "prod/web  SUCCEEDED  [ERROR] :smile:",  # cells are text: no markup, no emoji codes
        "x         -          b",
    ]


def test_render_fields_aligns_values_and_never_wraps() -> None:
    long = "x" * 300
    assert render_fields([("rollout", "r-1"), ("bake until", long)]) == f"rollout     r-1\nbake until  {long}"


def test_show_on_a_terminal_colours_statuses_and_off_one_stays_plain() -> None:
    rows = [["prod/web", "FAILED"]]
    screen = io.StringIO()
    show(make_console(file=screen, force_terminal=True, width=80), table_of(["SERVICE", "STATUS"], rows))
    assert "\x1b[" in screen.getvalue() and "FAILED" in screen.getvalue()

    piped = io.StringIO()
    show(make_console(file=piped, force_terminal=False), table_of(["SERVICE", "STATUS"], rows))
    assert piped.getvalue() == "SERVICE   STATUS\nprod/web  FAILED\n"


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (AwsError("Query", "ExpiredTokenException", "The security token\nis expired"), "have expired"),
        (AwsError("Scan", "AccessDeniedException", "not authorized"), "access denied: your credentials may not Scan"),
        (AwsError("Scan", "NoCredentialsError", "Unable to locate credentials"), "no AWS credentials found"),
        (NoCredentialsError(), "no AWS credentials found"),
        (SlipwayError("no rollout of prod/web on record"), "slipway: no rollout of prod/web on record"),
    ],
)
def test_failure_line_is_one_line_saying_what_to_do(error: Exception, says: str) -> None:
    line = failure_line(error)  # type: ignore[arg-type]

    assert line.startswith("slipway: ") and "\n" not in line
    assert says in line


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    from slipway.cli import run

    code = 0
    try:
        run(list(args))
    except SystemExit as done:
        code = int(done.code or 0)
    return code, capsys.readouterr().out


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F"), ("zsh", "#compdef slipway"), ("fish", "complete --no-files --command slipway")],
)
def test_completion_script_from_the_environment_variable_and_the_command(
    shell: str, marker: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, script = run_cli(capsys, "completion", shell)
    assert code == 0 and marker in script and "_SLIPWAY_COMPLETE" in script

    monkeypatch.setenv("_SLIPWAY_COMPLETE", f"{shell}_source")
    code, from_env = run_cli(capsys)
    assert (code, from_env.strip()) == (0, script.strip())


def test_completion_completes_command_names(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_SLIPWAY_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", "slipway st")
    monkeypatch.setenv("COMP_CWORD", "1")

    code, out = run_cli(capsys)

    assert code == 0 and "plain,status" in out.splitlines()
