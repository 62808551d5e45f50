"""kubectl-like error text, exit codes without tracebacks, and global-flag hoisting."""

from __future__ import annotations

import pytest

from cli.errors import CliError, ExitCode, format_error, format_failures, run, set_server_hint
from cli.main import hoist_globals
from machinery import errors


def test_not_found_and_already_exists_read_like_kubectl() -> None:
    assert format_error(errors.NotFound('pods "x" not found')) == 'Error from server (NotFound): pods "x" not found'
    assert (format_error(errors.AlreadyExists('pods "x" already exists'))
            == 'Error from server (AlreadyExists): pods "x" already exists')


def test_invalid_reads_as_kubectls_check_err() -> None:
    """kubectl's cmdutil.checkErr for reason Invalid: `The Kind "name" is invalid: field: msg`."""
    one = errors.Invalid('Deployment "x" is invalid: spec.replicas: Invalid value: -1: must be greater than or '
                         'equal to 0', kind="Deployment", name="x", causes=[
                             {"reason": "FieldValueInvalid", "field": "spec.replicas",
                              "message": "Invalid value: -1: must be greater than or equal to 0"}])
    assert format_error(one) == ('The Deployment "x" is invalid: spec.replicas: Invalid value: -1: must be greater '
                                 'than or equal to 0')
    cause = {"reason": "FieldValueRequired", "field": "spec.containers[0].image", "message": "Required value"}
    two = errors.Invalid('Pod "p" is invalid: [...]', kind="Pod", name="p", causes=[
        cause, dict(cause), {"reason": "FieldValueInvalid", "field": "metadata.name", "message": 'Invalid value: "X"'}])
    assert format_error(two).splitlines() == ['The Pod "p" is invalid: ', "* spec.containers[0].image: Required value",
                                              '* metadata.name: Invalid value: "X"']  # the duplicate dropped
    assert format_error(errors.Invalid("bad thing", status={"reason": "Invalid", "message": "bad thing"})) == (
        "The request is invalid: bad thing")
    nameless = errors.Invalid("bad", status={"reason": "Invalid", "message": "bad", "details": {"causes": [cause]}})
    assert format_error(nameless) == "The request is invalid: spec.containers[0].image: Required value"
    assert format_error(errors.Invalid("bad", status={"reason": "Invalid", "message": "bad", "details": {}})) == (
        "The request is invalid: bad")


def test_several_failures_keep_their_context_one_alone_reads_as_check_err() -> None:
    invalid = errors.Invalid('Deployment "x" is invalid: spec.replicas: Invalid value: -1', kind="Deployment",
                             name="x", causes=[{"field": "spec.replicas", "message": "Invalid value: -1"}])
    exists = errors.AlreadyExists('deployments.apps "y" already exists')
    assert format_failures([(invalid, 'error when creating "a.yaml"')]) == (
        'The Deployment "x" is invalid: spec.replicas: Invalid value: -1')
    assert format_failures([(exists, 'error when creating "a.yaml"'), (invalid, 'error when creating "b.yaml"')]) == (
        'Error from server (AlreadyExists): error when creating "a.yaml": deployments.apps "y" already exists\n'
        'Error from server (Invalid): error when creating "b.yaml": Deployment "x" is invalid: '
        "spec.replicas: Invalid value: -1")


def test_connection_refused_names_host_and_port() -> None:
    set_server_hint("http://127.0.0.1:6553")
    assert format_error(errors.ConnectionFailed("boom")) == (
        "The connection to the server 127.0.0.1:6553 was refused - did you specify the right host or port?")


def test_a_server_that_answers_too_late_is_not_a_refused_connection() -> None:
    set_server_hint("http://127.0.0.1:6553")
    late = errors.ConnectionTimeout("GET http://127.0.0.1:6553/api: ReadTimeout: timed out")
    assert format_error(late) == f"error: the server did not answer in time ({late.message})"


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
