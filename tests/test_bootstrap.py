"""tools/bootstrap.py and tools/pip_steps.py: the first run's plan, disk check and pip output.

No pip and no network: pip's output is replayed from a recording, and a stand-in "pip" is a
tiny Python command that prints those lines.
"""

from __future__ import annotations

import io
import os
import re
import sys
import time

import pytest

from tools import bootstrap, pip_steps

PHASES = ["01_explore_mnist.py", "02_simple_nn.py", "03_train_model.py",
          "04_improved_model.py", "05_understand_model.py"]
README = (bootstrap.REPO / "README.md").read_text(encoding="utf-8")

# Lines pip 26.3 printed while installing requirements.txt into a fresh .venv (shortened).
PIP_OUTPUT = """\
Looking in indexes: https://pypi.org/simple
Collecting torch>=2.2 (from -r requirements.txt (line 2))
  Downloading torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl.metadata (30 kB)
Collecting triton~=3.8.0 (from torch>=2.2->-r requirements.txt (line 2))
Processing /opt/files/triton-3.8.0-cp311-cp311-manylinux_2_28_x86_64.whl (from torch>=2.2)
Downloading torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl (554.6 MB)
Progress 0 of 554600000
Progress 277300000 of 554600000
Progress 554600000 of 554600000
Using cached tqdm-4.70.1-py3-none-any.whl (78 kB)
Installing collected packages: tqdm, triton, torch
Successfully installed torch-2.14.1 tqdm-4.70.1 triton-3.8.0
"""


def makefile_phases() -> list[str]:
    text = (bootstrap.REPO / "Makefile").read_text().replace("\\\n", " ")
    return re.search(r"^PHASES\s*:=(.*)$", text, re.M).group(1).split()


# --- the plan ------------------------------------------------------------------------------------


def test_readme_table_gives_a_runtime_for_every_phase_make_course_runs():
    label, times = bootstrap.phase_times(README)
    assert label == "2-core CPU"
    assert makefile_phases() == PHASES
    for script in PHASES:
        assert bootstrap.seconds_of(times[script]) > 0, script


def test_phase_times_parses_a_table_and_ignores_other_tables():
    readme = ("| run | seconds |\n| --- | --- |\n| x | 9 |\n\n"
              "| script | phase | time (laptop) | result |\n| --- | --- | --- | --- |\n"
              "| `01_a.py` | 1 | ~8 s | ok |\n| `02_b.py` | 2 | ~2 min | ok |\n\nafter\n")
    assert bootstrap.phase_times(readme) == ("laptop", {"01_a.py": "~8 s", "02_b.py": "~2 min"})
    assert bootstrap.seconds_of("~2 min") == 120 and bootstrap.seconds_of("n/a") is None
    assert bootstrap.phases_line(["01_a.py", "02_b.py"], readme) == (
        "01 ~8 s, 02 ~2 min = ~2 min (laptop)")
    assert "README" in bootstrap.phases_line(["01_a.py"], "no table here")


def test_course_plan_shows_readme_runtimes_and_fits_100_columns():
    _, times = bootstrap.phase_times(README)
    lines = bootstrap.plan_lines("course", PHASES, ("Linux", "x86_64"), venv_exists=False)
    text = "\n".join(lines)
    for script in PHASES:
        assert f"{script[:2]} {times[script]}" in text
    total = sum(bootstrap.seconds_of(times[s]) for s in PHASES)
    assert f"= {bootstrap.about(total)} (2-core CPU)" in text
    for step in ("virtual environment", "packages", "MNIST", "phases 01-05"):
        assert step in text
    assert "torch, torchvision, matplotlib, tqdm, pytest" in text  # from requirements.txt
    assert all(len(line) <= 100 for line in lines)


def test_test_plan_names_the_tests_instead_of_the_phases():
    text = "\n".join(bootstrap.plan_lines("test", PHASES, ("Linux", "x86_64"), True))
    assert "pytest" in text and "phases" not in text and "exists, reused" in text


@pytest.mark.parametrize("system, machine, words", [
    ("Linux", "x86_64", ["Linux x86_64", "CUDA build", "~2.9 GB download", "5.5 GB in .venv"]),
    ("Darwin", "arm64", ["macOS", "without CUDA", "1.0 GB in .venv"]),
    ("Windows", "AMD64", ["Windows", "without CUDA"]),
    ("Linux", "aarch64", ["Linux aarch64", "without CUDA"]),
])
def test_package_size_depends_on_the_platform(system, machine, words):
    text = "\n".join(bootstrap.plan_lines("course", PHASES, (system, machine), False))
    for word in words:
        assert word in text


# --- disk space ----------------------------------------------------------------------------------


def test_shortage_message_is_one_line_with_both_numbers_and_what_to_do(tmp_path):
    gb = bootstrap.GB
    message = bootstrap.shortage_message(4.2 * gb, 12 * gb, tmp_path, "test")
    assert "\n" not in message
    assert "4.2 GB free" in message and "12.0 GB needed" in message and "make test" in message
    assert bootstrap.shortage_message(12 * gb, 12 * gb, tmp_path, "test") is None


def test_disk_need_counts_venv_and_pip_downloads_twice(tmp_path, monkeypatch):
    monkeypatch.setattr(bootstrap.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PIP_NO_CACHE_DIR", raising=False)
    download, installed = 3.0 * bootstrap.GB, 5.0 * bootstrap.GB
    [(_, need)] = bootstrap.disk_needs(download, installed, tmp_path / ".venv")  # one disk
    assert need == installed + bootstrap.DISK_MARGIN + 2 * download
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    [(_, need)] = bootstrap.disk_needs(download, installed, tmp_path / ".venv")
    assert need == installed + bootstrap.DISK_MARGIN + download


def venv_args(tmp_path, *extra):
    return ["--venv", str(tmp_path / ".venv"), "--goal", "test", "--phases", *PHASES, *extra]


def test_too_little_disk_stops_before_anything_is_created_or_downloaded(tmp_path, monkeypatch,
                                                                        capsys):
    def no_install(*_):
        raise AssertionError("installed despite too little disk space")

    monkeypatch.setattr(bootstrap, "install", no_install)
    assert bootstrap.main(venv_args(tmp_path, "--need-gb", "1e9")) == 1
    out, err = capsys.readouterr()
    assert out.startswith("First run of `make test`")  # the plan comes first
    assert err.count("\n") == 1 and err.startswith("Not enough disk space:")
    assert not (tmp_path / ".venv").exists()


def test_second_run_says_already_installed_in_one_line(tmp_path, monkeypatch, capsys):
    venv = tmp_path / ".venv"
    bootstrap.venv_python(venv).parent.mkdir(parents=True)
    bootstrap.venv_python(venv).touch()
    (venv / ".installed").touch()
    later = time.time() + 10  # the stamp is newer than requirements.txt
    os.utime(venv / ".installed", (later, later))
    monkeypatch.setattr(bootstrap, "install", lambda *_: pytest.fail("reinstalled"))
    assert bootstrap.main(venv_args(tmp_path)) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "already installed" in out and "to reinstall" in out


def test_old_python_gets_one_line_naming_the_fix():
    with pytest.raises(pip_steps.SetupError, match=r"Python 3\.10\+.*3\.8\.10.*PYTHON="):
        bootstrap.check_python((3, 8, 10), "course")
    bootstrap.check_python((3, 11, 7), "course")  # no error


# --- pip's output and failures ------------------------------------------------------------------


def test_without_a_terminal_each_package_gets_one_line_and_no_counters():
    out = io.StringIO()
    view = pip_steps.PipView(out, live=False)
    retries = ["WARNING: Retrying (Retry(total=4)) after connection broken by ..."] * 3
    for line in retries + PIP_OUTPUT.splitlines():
        view.feed(line)
        view.tick()
    view.close()
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["network", "triton", "torch", "tqdm",
                                                   "unpacking"]  # the retries: once
    assert "554.6 MB" in lines[2] and "downloading" in lines[2] and "cache" in lines[3]
    assert "\r" not in out.getvalue() and "Progress" not in out.getvalue()


def test_in_a_terminal_the_download_shows_its_percentage_in_place():
    out = io.StringIO()
    view = pip_steps.PipView(out, live=True, count_installed=lambda: 2)
    for line in PIP_OUTPUT.splitlines():
        view.feed(line)
    view.tick()
    view.close()
    screen = out.getvalue()
    assert " 50%" in screen and "100%" in screen
    assert "unpacking: 0 of 3 packages done" in screen
    finished = [part for part in screen.split("\r") if part.endswith("\n")]
    assert any("torch 2.14.1" in line and "downloaded" in line for line in finished)


@pytest.mark.parametrize("output, hint", [
    ("OSError: [Errno 28] No space left on device", "disk"),
    ("WARNING: Retrying ... Max retries exceeded with url", "network"),
    ("ERROR: No matching distribution found for torch>=2.2", "PYTHON=python3.12"),
    ("something unexpected", "VERBOSE=1"),
])
def test_a_failure_is_one_line_with_what_to_try_and_the_log(tmp_path, output, hint):
    line = pip_steps.failure_line("installing the packages", output, tmp_path / "install.log")
    assert "\n" not in line and hint in line and "install.log" in line


def fake_pip(text: str, exit_code: int) -> list[str]:
    """A command that prints text the way pip would, then exits with exit_code."""
    return [sys.executable, "-c", f"import sys; sys.stdout.write({text!r}); sys.exit({exit_code})"]


def test_pip_output_goes_to_the_log_and_a_failure_raises_one_line(tmp_path):
    log, out = tmp_path / "install.log", io.StringIO()
    pip_steps.run_pip_install(fake_pip(PIP_OUTPUT, 0), log, False, out=out)
    logged = log.read_text().splitlines()
    assert "Successfully installed" in logged[-1]
    assert not any(line.startswith("Progress") for line in logged)  # 4 a second: left out
    assert "torch 2.14.1" in out.getvalue()
    with pytest.raises(pip_steps.SetupError) as failure:
        pip_steps.run_pip_install(fake_pip("ERROR: [Errno 28] No space left on device\n", 1),
                                  log, False, out=io.StringIO())
    assert "disk" in str(failure.value) and "\n" not in str(failure.value)
    with pytest.raises(pip_steps.SetupError, match="network"):
        pip_steps.run_quiet(fake_pip("NewConnectionError\n", 1), "updating pip", log, False)


def test_a_local_wheel_shows_its_size_read_from_disk(tmp_path):
    wheel = tmp_path / "tqdm-4.70.1-py3-none-any.whl"
    wheel.write_bytes(b"x" * 2500)
    out = io.StringIO()
    pip_steps.PipView(out, live=False).feed(f"Processing {wheel} (from -r requirements.txt)")
    assert out.getvalue().split() == ["tqdm", "4.70.1", "2.5", "kB", "local", "file"]
