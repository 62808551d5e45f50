"""kubectl-like error text, exit codes without tracebacks, and global-flag hoisting."""

from __future__ import annotations

import pytest

from cli.errors import CliError, ExitCode, format_error, run, set_server_hint
from cli.main import hoist_globals
from machinery import errors


def test_not_found_and_already_exists_read_like_kubectl() -> None:
    assert format_error(errors.NotFound('pods "x" not found')) == 'Error from server (NotFound): pods "x" not found'
    assert (format_error(errors.AlreadyExists('pods "x" already exists'))
            == 'Error from server (AlreadyExists): pods "x" already exists')


def test_invalid_lists_causes_not_already_in_the_message() -> None:
    err = errors.Invalid('Pod "x" is invalid: spec.containers[0].image: Required value', causes=[
        {"reason": "FieldValueRequired", "field": "spec.containers[0].image", "message": "Required value"},
        {"reason": "FieldValueInvalid", "field": "metadata.name", "message": "Invalid value: \"X\""},
    ])
    lines = format_error(err).splitlines()
    assert lines[0] == 'Error from server (Invalid): Pod "x" is invalid: spec.containers[0].image: Required value'
    assert lines[1:] == ['* metadata.name: Invalid value: "X"']


def test_connection_refused_names_host_and_port() -> None:
    set_server_hint("http://127.0.0.1:6553")
    assert format_error(errors.ConnectionFailed("boom")) == (
        "The connection to the server 127.0.0.1:6553 was refused - did you specify the right host or port?")


def test_client_errors() -> None:
    assert format_error(CliError('the server doesn\'t have a resource type "foo"')) == (
        'error: the server doesn\'t have a resource type "foo"')


async def _boom() -> int:
    raise errors.NotFound('pods "x" not found')


async def _ok() -> int:
    return 0


async def _exit3() -> int:
    raise ExitCode(3)


async def _bug() -> int:
    raise RuntimeError("unexpected")


def test_run_maps_exceptions_to_exit_codes(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBELITE_DEBUG", raising=False)
    run(_ok())
    with pytest.raises(SystemExit) as exc:
        run(_boom())
    assert exc.value.code == 1
    assert capsys.readouterr().err == 'Error from server (NotFound): pods "x" not found\n'
    with pytest.raises(SystemExit) as exc:
        run(_exit3())
    assert exc.value.code == 3
    with pytest.raises(SystemExit):
        run(_bug())
    err = capsys.readouterr().err
    assert err == "error: RuntimeError: unexpected\n" and "Traceback" not in err


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBELITE_DEBUG", "1")
    with pytest.raises(SystemExit):
        run(_bug())
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "expected"), [
    (["get", "pods", "-n", "x"], ["-n", "x", "get", "pods"]),
    (["get", "pods", "--namespace=x", "-o", "wide"], ["--namespace=x", "get", "pods", "-o", "wide"]),
    (["get", "po", "-nkube-system"], ["-n", "kube-system", "get", "po"]),
    (["apply", "-f", "a.yaml", "--kubeconfig", "k", "-s", "http://h"], ["--kubeconfig", "k", "-s", "http://h", "apply", "-f", "a.yaml"]),
    (["delete", "po", "x", "--wait=false"], ["delete", "po", "x", "--no-wait"]),
    (["delete", "po", "x", "--wait=true"], ["delete", "po", "x", "--wait"]),
    (["exec", "p", "--", "sh", "-n", "1"], ["exec", "p", "--", "sh", "-n", "1"]),
])
def test_hoist_globals(argv: list[str], expected: list[str]) -> None:
    assert hoist_globals(argv) == expected


def test_global_flags_after_the_verb_reach_the_command() -> None:
    from typer.testing import CliRunner

    from cli.main import app

    r = CliRunner().invoke(app, ["get", "foo", "-n", "x", "-s", "http://127.0.0.1:1"])
    assert (r.exit_code, r.stderr) == (1, 'error: the server doesn\'t have a resource type "foo"\n')
    r = CliRunner().invoke(app, ["get", "pods", "-o", "tsv", "--server=http://127.0.0.1:1"])
    assert r.exit_code == 1 and 'unable to match a printer suitable for the output format "tsv"' in r.stderr
    r = CliRunner().invoke(app, ["create", "widget", "x", "-s", "http://127.0.0.1:1"])
    assert r.exit_code == 1 and r.stderr.startswith("error: Unexpected args: [widget x]")
