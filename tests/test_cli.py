"""The command line: `govshare deadline`, `govshare profiles`, the `run` hook; bad input is one line
on stderr with exit code 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from govshare.ops.cli import main
from regulations import PROFILE_DIR_ENV, clear_cache, load_profile

NATIONAL_DAY = ["deadline", "--from", "2026-09-30T16:00:00+08:00", "--working-days", "3"]
# REGULATIONS.md §3: 3 working days from any instant of 2026-09-30 end at 24:00 of Saturday 10-10.
NATIONAL_DAY_DUE = "2026-10-11T00:00:00+08:00"


@pytest.fixture(autouse=True)
def _shipped_profiles(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(PROFILE_DIR_ENV, raising=False)
    clear_cache()
    yield
    clear_cache()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    code, out, err = run(capsys, *argv, "--json")
    assert (code, err) == (0, "")
    return json.loads(out)


# --------------------------------------------------------------------------------------------------
# govshare deadline
# --------------------------------------------------------------------------------------------------


def test_national_day_human(capsys):
    code, out, err = run(capsys, *NATIONAL_DAY)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == NATIONAL_DAY_DUE
    zh = next(i for i, line in enumerate(lines) if "国庆" in line)
    en = next(i for i, line in enumerate(lines) if "National Day" in line)
    assert 0 < zh < en, "the Chinese lines come first, then the English ones"


def test_national_day_json(capsys):
    data = run_json(capsys, *NATIONAL_DAY)
    assert data["due_at"] == NATIONAL_DAY_DUE
    assert data["due_date"] == "2026-10-10"
    assert data["working_days"] == 3
    assert data["provisional"] is False
    assert data["calendar_years"] == [2026]
    assert [ref["year"] for ref in data["calendar_data"]] == [2026]
    assert data["explanation_zh"] and data["explanation_en"]
    assert "remind_at" in data


def test_utc_input_is_read_in_shanghai(capsys):
    # 2026-09-30T17:30Z is 2026-10-01 01:30 in Shanghai: a holiday, so the same working days follow.
    data = run_json(capsys, "deadline", "--from", "2026-09-30T17:30:00Z", "--working-days", "3")
    assert data["start_at"] == "2026-10-01T01:30:00+08:00"
    assert data["due_at"] == NATIONAL_DAY_DUE


def test_naive_input_means_shanghai(capsys):
    naive = run_json(capsys, "deadline", "--from", "2026-09-30T16:00:00", "--working-days", "3")
    aware = run_json(capsys, *NATIONAL_DAY)
    assert naive == aware


def test_office_cutoff(capsys):
    data = run_json(capsys, *NATIONAL_DAY, "--cutoff", "17:00")
    assert data["due_at"] == "2026-10-10T17:00:00+08:00"
    assert data["cutoff"] == "17:00"


def test_profile_step(capsys):
    data = run_json(
        capsys,
        "deadline",
        "--profile",
        "hubei",
        "--step",
        "provider_authorization",
        "--from",
        "2026-09-30T16:00:00+08:00",
    )
    assert data["working_days"] == 10
    assert data["article"] == "20"
    assert data["limit_basis"] == "statute"
    assert data["profile"] == "hubei"
    assert data["profile_version"] == load_profile("hubei").version
    assert data["step"] == "provider_authorization"
    assert data["case_type"] == "sharing_application"
    # 10-08, 10-09, Saturday 10-10 (make-up), 10-12 … 10-16, 10-19, 10-20.
    assert data["due_at"] == "2026-10-21T00:00:00+08:00"


def test_profile_step_human_names_the_article(capsys):
    code, out, _ = run(
        capsys, "deadline", "--profile", "luzhou", "--step", "provider_acceptance", "--from", "2026-09-30"
    )
    assert code == 0
    assert "art. 25" in out.splitlines()[1]
    assert "提供部门受理" in out


def test_provisional_2027(capsys):
    data = run_json(
        capsys,
        "deadline",
        "--profile",
        "hubei",
        "--step",
        "provider_authorization",
        "--from",
        "2027-03-01T10:00:00+08:00",
    )
    assert data["provisional"] is True
    assert 2027 in data["provisional_years"]
    assert 2027 in data["calendar_years"]
    assert data["due_at"].startswith("2027-") and data["due_at"].endswith("+08:00")


BAD = [
    (["deadline", "--from", "yesterday", "--working-days", "3"], "not an ISO 8601 date-time"),
    (["deadline", "--from", "2026-02-30T10:00:00+08:00", "--working-days", "3"], "not an ISO 8601"),
    (["deadline", "--from", "2026-09-30", "--working-days", "-1"], "must be 0 or more"),
    (["deadline", "--from", "2026-09-30", "--working-days", "three"], "not a whole number"),
    (["deadline", "--from", "2026-09-30"], "give --working-days N, or --profile and --step"),
    (["deadline", "--working-days", "3"], "the following arguments are required: --from"),
    (["deadline", "--from", "2026-09-30", "--working-days", "3", "--cutoff", "5pm"], "not a time HH:MM"),
    (["deadline", "--from", "2026-09-30", "--profile", "wuhan", "--step", "x"], "unknown profile 'wuhan'"),
    (["deadline", "--from", "2026-09-30", "--profile", "hubei", "--step", "nope"], "no step 'nope'"),
    (["deadline", "--from", "2026-09-30", "--profile", "hubei"], "--profile and --step go together"),
    (
        ["deadline", "--from", "2026-09-30", "--profile", "luoyang", "--step", "platform_review"],
        "step platform_review of profile luoyang has no working-day limit (statutory: none)",
    ),
    (
        [
            "deadline",
            "--from",
            "2026-09-30",
            "--profile",
            "hubei",
            "--step",
            "platform_check",
            "--working-days",
            "5",
        ],
        "cannot be combined with --profile/--step",
    ),
    (
        ["deadline", "--from", "2026-09-30", "--working-days", "3", "surplus"],
        "unrecognized arguments: surplus",
    ),
    (["profiles", "wuhan"], "unknown profile 'wuhan'; known profiles: hubei"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: <command>"),
]


@pytest.mark.parametrize(("argv", "message"), BAD)
def test_bad_input_is_one_line_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("govshare: error: ")
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, "deadline", "--help")
    assert code == 0
    assert "Asia/Shanghai" in out


# --------------------------------------------------------------------------------------------------
# govshare profiles
# --------------------------------------------------------------------------------------------------


def test_profiles_table(capsys):
    code, out, err = run(capsys, "profiles")
    assert (code, err) == (0, "")
    for profile_id in ("hubei", "luzhou", "jiangsu", "luoyang", "yongcheng"):
        assert profile_id in out
    row = next(line for line in out.splitlines() if "provider_authorization" in line)
    assert row.split()[:4] == ["sharing_application", "provider_authorization", "10", "20"]
    assert "提供部门授权 / Authorization by the provider" in row
    row = next(line for line in out.splitlines() if " data_verification " in line)
    assert "10 +≤10" in row


def test_profiles_json(capsys):
    code, out, _ = run(capsys, "profiles", "--json")
    assert code == 0
    data = {p["id"]: p for p in json.loads(out)}
    assert sorted(data) == ["hubei", "jiangsu", "luoyang", "luzhou", "yongcheng"]
    steps = {s["step"]: s for s in data["hubei"]["steps"]}
    assert steps["platform_check"] == {
        "case_type": "sharing_application",
        "step": "platform_check",
        "name_zh": "规范性检查",
        "name_en": "Normative check",
        "actor": "platform",
        "working_days": 3,
        "limit_basis": "statute",
        "article": "19",
        "extension": None,
    }
    assert steps["catalog_update"]["limit_basis"] == "none"
    assert data["yongcheng"]["steps"] == []
    assert len(data["hubei"]["digest"]) == 64


# --------------------------------------------------------------------------------------------------
# govshare run (the launcher is another module, imported only when `run` is used)
# --------------------------------------------------------------------------------------------------


def test_run_without_launcher(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "govshare.ops.launcher", None)  # import raises ModuleNotFoundError
    code, _, err = run(capsys, "run")
    assert code == 2
    assert err == "govshare: error: 'govshare run' is not available: govshare.ops.launcher is missing\n"


def test_run_passes_its_arguments_to_the_launcher(capsys, monkeypatch):
    seen = {}

    def add_run_arguments(parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true")

    def run_command(args):
        seen.update(vars(args))
        return 0

    fake = types.ModuleType("govshare.ops.launcher")
    fake.add_run_arguments = add_run_arguments
    fake.run_command = run_command
    monkeypatch.setitem(sys.modules, "govshare.ops.launcher", fake)

    assert run(capsys, "run", "--port", "9001", "--no-worker")[0] == 0
    assert seen == {"port": 9001, "no_worker": True}

    code, _, err = run(capsys, "run", "--bogus")
    assert code == 2
    assert err.startswith("govshare: error: unrecognized arguments: --bogus")

    code, out, _ = run(capsys, "run", "--help")
    assert code == 0
    assert "--port" in out


# --------------------------------------------------------------------------------------------------
# The real console script
# --------------------------------------------------------------------------------------------------

SCRIPT = Path(sys.executable).parent / "govshare"


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed (pip install -e .)")
def test_console_script():
    done = subprocess.run(
        [str(SCRIPT), *NATIONAL_DAY, "--json"], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert json.loads(done.stdout)["due_at"] == NATIONAL_DAY_DUE

    done = subprocess.run(
        [str(SCRIPT), "deadline", "--from", "not-a-date", "--working-days", "3"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == b""
    err = done.stderr.decode("utf-8")
    assert err.startswith("govshare: error: argument --from:") and err.count("\n") == 1


def test_python_dash_m():
    done = subprocess.run(
        [sys.executable, "-m", "govshare", *NATIONAL_DAY],
        capture_output=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert done.stdout.decode("utf-8").splitlines()[0] == NATIONAL_DAY_DUE


def test_working_days_elapsed(capsys):
    # Recorded 09-30, answered Saturday 10-10 (a make-up working day): 10-08, 10-09, 10-10 → 3.
    assert (
        main(["working-days", "--from", "2026-09-30T10:00:00+08:00", "--to", "2026-10-10T15:00:00+08:00"])
        == 0
    )
    assert capsys.readouterr().out.strip() == "3"
    assert main(["working-days", "--from", "2026-10-01T09:00", "--to", "2026-10-07T18:00", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["working_days"] == 0  # all National Day
    assert main(["working-days", "--from", "2026-10-01T09:00", "--to", "yesterday"]) == 2
