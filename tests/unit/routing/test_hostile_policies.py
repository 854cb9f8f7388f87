"""Hostile policy files are refused with a placed message, quickly, and never crash a caller."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from app.flows import policy_holder
from app.flows.policy_holder import PolicyHolder
from app.routing import PolicyLoadError, load_policy_set
from app.routing import loader as loader_module
from app.routing.errors import MAX_REPORTED

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = Path(__file__).parent / "golden"
HOSTILE = sorted(p.name for p in GOLDEN.iterdir() if p.name.startswith("hostile_"))
EXAMPLE = (ROOT / "policies" / "countersign.yml").read_bytes()


def refused(directory: Path) -> PolicyLoadError:
    with pytest.raises(PolicyLoadError) as caught:
        load_policy_set(directory)
    return caught.value


def with_policy(tmp_path: Path, data: bytes) -> Path:
    """A copy of the example policy folder whose countersign.yml holds `data`."""
    folder = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", folder, dirs_exist_ok=True)
    (folder / "countersign.yml").write_bytes(data)
    return folder


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_file_is_refused_quickly(case: str) -> None:
    """Each hostile golden file is a PolicyLoadError with file:line:column, in under two seconds."""
    started = time.perf_counter()
    error = refused(GOLDEN / case)
    assert time.perf_counter() - started < 2.0
    assert all(problem.line >= 1 for problem in error.problems)


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """A 50 MiB policy file is refused from its size alone, with the limit in the message."""
    folder = with_policy(tmp_path, EXAMPLE)
    with (folder / "huge.yml").open("wb") as huge:
        huge.truncate(50 * 1024 * 1024)  # sparse: nothing to write, nothing to read
    started = time.perf_counter()
    (problem,) = refused(folder).problems
    assert time.perf_counter() - started < 2.0
    assert str(problem) == (
        f"{folder / 'huge.yml'}:1:1: the file is 50.0 MiB; a policy file may be at most 256 KiB"
        " (hint: split it into several files, or look for something pasted by mistake)"
    )


def test_files_over_the_total_limit_are_refused(tmp_path: Path) -> None:
    """Three files of 250 KiB each pass the per-file limit but not the 512 KiB total."""
    folder = with_policy(tmp_path, EXAMPLE)
    for number in range(3):
        (folder / f"pad{number}.yml").write_bytes(b"#" * (250 * 1024))
    messages = {problem.message for problem in refused(folder).problems}
    assert "the policy files together exceed 512 KiB" in messages


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    """A policy file without read permission is reported as `cannot read`."""
    folder = with_policy(tmp_path, EXAMPLE)
    (folder / "groups.yml").chmod(0)
    (problem,) = refused(folder).problems
    assert problem.message == "cannot read: Permission denied"


def test_a_flood_of_mistakes_is_capped(tmp_path: Path) -> None:
    """Thousands of unknown keys give MAX_REPORTED lines and one saying how many more."""
    keys = b"".join(b"key%d: 1\n" % number for number in range(5000))
    problems = refused(with_policy(tmp_path, b"version: 1\n" + keys)).problems
    assert len(problems) == MAX_REPORTED + 1
    assert problems[-1].message.startswith("… and ")


def test_an_unexpected_failure_becomes_one_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug inside loading (injected here) is a PolicyLoadError naming it, with the cause kept."""

    def broken(directory: Path) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(loader_module, "_load", broken)
    error = refused(ROOT / "policies")
    assert "unexpected RuntimeError" in str(error)
    assert isinstance(error.__cause__, RuntimeError)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    at=st.integers(0, len(EXAMPLE)),
    cut=st.integers(0, 40),
    junk=st.one_of(
        st.binary(max_size=12),
        st.sampled_from(
            [b"[" * 200, b"{a: " * 100, b"&x ", b"*x", b"\x07", b"\xff", b'"\\ud800"', b"9" * 5000]
        ),
        st.text(max_size=8).map(str.encode),
    ),
)
def test_any_corruption_of_the_example_loads_or_is_refused(at: int, cut: int, junk: bytes) -> None:
    """Bytes spliced anywhere into the example: it loads or is refused with problems, no crash."""
    assert _outcome(EXAMPLE[:at] + junk + EXAMPLE[at + cut :]) in ("loaded", "refused")


def _outcome(data: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(ROOT / "policies" / "groups.yml", folder / "groups.yml")
        (folder / "countersign.yml").write_bytes(data)
        try:
            load_policy_set(folder)
        except PolicyLoadError as error:
            return "refused" if error.problems else "refused without a reason"
    return "loaded"


@pytest.mark.parametrize("case", HOSTILE)
def test_reload_keeps_the_set_in_force_for_a_hostile_file(case: str, tmp_path: Path) -> None:
    """PolicyHolder.reload refuses each hostile file, keeps the old set and reports why."""
    folder = with_policy(tmp_path, EXAMPLE)
    told: list[str] = []
    holder = PolicyHolder(folder, lambda kept, problems: told.append(problems))
    before = holder.current()
    shutil.rmtree(folder)
    shutil.copytree(GOLDEN / case, folder)
    result = holder.reload()
    assert (result.applied, result.content_hash) == (False, before.content_hash)
    assert holder.current() is before
    assert told
    assert result.problems


def test_reload_survives_any_exception(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception while loading (injected) keeps the old set, logged with an id."""
    holder = PolicyHolder(with_policy(tmp_path, EXAMPLE))
    before = holder.current()

    def broken(directory: Path) -> None:
        raise RecursionError("injected")

    monkeypatch.setattr(policy_holder, "load_policy_set", broken)
    with capture_logs() as logs:
        result = holder.reload()
    assert (result.applied, holder.current()) == (False, before)
    assert "error id" in result.problems[0]
    failed = [entry for entry in logs if entry["event"] == "policies.reload_failed"]
    assert failed
    assert failed[0]["error_id"] in result.problems[0]


def test_thousands_of_routes_are_checked_in_linear_time(tmp_path: Path) -> None:
    """3,000 routes (a 240 KiB file) load in seconds: shadowing checks do not compare all pairs."""
    routes = "".join(
        f"  - {{name: r{n}, when: {{customer.id: c{n}}}, steps: [{{approvers: [U0AAA]}}]}}\n"
        for n in range(3000)
    )
    text = f"version: 1\ndefaults: {{channel: C0BILLING}}\nroutes:\n{routes}  - name: last\n"
    (tmp_path / "p.yml").write_text(text + "    steps: [{approvers: [U0AAA]}]\n")
    started = time.perf_counter()
    assert len(load_policy_set(tmp_path).routes) == 3001
    assert time.perf_counter() - started < 10.0
