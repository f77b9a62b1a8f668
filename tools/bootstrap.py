"""Set up .venv for `make course` and `make test`, saying first what will happen (issue 15).

Runs with the system's python3 and the standard library only: no virtual environment and no
torch exist yet when it starts. The Makefile calls it before anything else:

    python3 -m tools.bootstrap --goal course --phases 01_explore_mnist.py 02_simple_nn.py ...

First run: a short plan (the virtual environment; the packages and their size on this platform;
the one-time MNIST download; then the phases with their runtimes, read from README.md's table),
a check of the free disk space before anything is downloaded, .venv created quietly, then
requirements.txt installed with one line per package (live percentages in a terminal), and the
stamp .venv/.installed. Later runs: one line. A failure: one line saying what failed and what to
try, pip's whole output kept in .venv/install.log; `--verbose` (`make ... VERBOSE=1`) shows it all.
`--need-gb N` replaces the computed disk need (`make test NEED_GB=9999` shows the disk message).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tools.pip_steps import SetupError, progress_option, run_pip_install, run_quiet

REPO = Path(__file__).resolve().parent.parent
MIN_PYTHON = (3, 10)  # README: "Python 3.10+"

GB = 2**30  # sizes in binary units, as `du -sh` and `df -h` print them
MB = 2**20

# Measured on Linux x86_64 with Python 3.11 (torch 2.14.1, which pulls in NVIDIA's CUDA 13
# libraries): `du -s .venv` 5,666 MiB; the 46 wheels pip fetched add up to 3.07 GB (2.9 GiB).
CUDA_DOWNLOAD, CUDA_INSTALLED = 2.9 * GB, 5.5 * GB
# Elsewhere (macOS, Windows, Linux on ARM) PyPI's torch has no CUDA libraries. Measured with
# the Linux x86_64 CPU build: torch 700 MiB installed (a 183 MiB wheel) + the other packages
# 344 MiB (about 60 MiB of wheels).
SMALL_DOWNLOAD, SMALL_INSTALLED = 0.25 * GB, 1.0 * GB
# pip keeps every download in its temporary folder until the install ends, and a second copy in
# its cache (so that reinstalling needs no network).
PIP_DOWNLOAD_COPIES = 2
DISK_MARGIN = 0.5 * GB  # room for pip's metadata, .pyc files and the rest of the disk's users
REFERENCE_MBIT_S = 50  # a typical home connection, for the download-time estimate
# Measured: pip unpacked the 46 packages (5.5 GB) into a fresh .venv in 105 s to 186 s on a
# shared 2-core CPU (less or more busy).
UNPACK_S_PER_GB = 30
MNIST_DOWNLOAD_MB, MNIST_ON_DISK_MB = 12, 55  # the four .gz files; the four IDX files


# --- what this platform installs ---------------------------------------------------------------


def footprint(system: str, machine: str) -> tuple[float, float, str]:
    """(download bytes, installed bytes, which build) of requirements.txt on this platform."""
    if system == "Linux" and machine.lower() in ("x86_64", "amd64"):
        return CUDA_DOWNLOAD, CUDA_INSTALLED, "Linux x86_64 gets PyTorch's CUDA build"
    where = {"Darwin": "macOS", "Windows": "Windows"}.get(system, f"{system} {machine}")
    return SMALL_DOWNLOAD, SMALL_INSTALLED, f"{where} gets the smaller PyTorch without CUDA"


def requirement_names(text: str) -> list[str]:
    """Package names in requirements.txt, in order (versions, extras and comments dropped)."""
    names = []
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[<>=!~\[; ]", line)[0])
    return names


def phase_times(readme: str) -> tuple[str, dict[str, str]]:
    """README's phase table: (machine label, {script: runtime text}), e.g. ("2-core CPU", ...)."""
    lines = readme.splitlines()
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    start = next((i for i, cells in enumerate(rows) if cells[:2] == ["script", "phase"]), None)
    if start is None:
        return "", {}
    header = rows[start]
    time_col = next((i for i, c in enumerate(header) if c.startswith("time")), None)
    if time_col is None:
        return "", {}
    times = {}
    for line, cells in zip(lines[start + 2:], rows[start + 2:]):  # after the --- row
        if not line.startswith("|"):
            break
        if len(cells) > time_col:
            times[cells[0].strip("`")] = cells[time_col]
    label = re.search(r"\((.*)\)", header[time_col])
    return (label.group(1) if label else ""), times


def seconds_of(text: str) -> float | None:
    """Seconds in a runtime like "~8 s", "~65 s" or "~2 min"; None if there is no number."""
    match = re.search(r"(\d+(?:\.\d+)?)\s*(s|sec|min|m)\b", text)
    if not match:
        return None
    return float(match.group(1)) * (60 if match.group(2).startswith("m") else 1)


def about(seconds: float) -> str:
    return f"~{seconds:.0f} s" if seconds < 90 else f"~{seconds / 60:.0f} min"


def size(num_bytes: float) -> str:
    return f"{num_bytes / GB:.1f} GB" if num_bytes >= GB else f"{num_bytes / MB:.0f} MB"


# --- the plan ------------------------------------------------------------------------------------


def phases_line(phases: list[str], readme: str) -> str:
    """ "01 ~8 s, 02 ~3 s, ... = ~2 min (2-core CPU)" from README's table, for these scripts."""
    label, times = phase_times(readme)
    parts, total = [], 0.0
    for script in phases:
        text = times.get(script, "")
        parts.append(f"{script[:2]} {text or '?'}")
        total += seconds_of(text) or 0.0
    if not times:
        return "runtimes: see the phase table in README.md"
    where = f" ({label})" if label else ""
    return ", ".join(parts) + f" = {about(total)}{where}"


def plan_lines(goal: str, phases: list[str], platform_id: tuple[str, str],
               venv_exists: bool) -> list[str]:
    """The block printed before the first install: what happens and roughly how long."""
    download, installed, build = footprint(*platform_id)
    names = requirement_names((REPO / "requirements.txt").read_text())
    download_s = download * 8 / (REFERENCE_MBIT_S * 1e6)
    unpack_s = installed / GB * UNPACK_S_PER_GB
    python = f"Python {platform.python_version()}"
    pad = " " * 26
    lines = [
        f"First run of `make {goal}`: what happens and roughly how long (later runs skip 1-3)",
        f"  1. virtual environment  .venv/ with {python}"
        + (" (exists, reused)" if venv_exists else "; nothing is installed outside this folder"),
        f"  2. packages             {', '.join(names)} and what they need",
        f"{pad}{build}: ~{size(download)} download, {size(installed)} in .venv",
        f"{pad}download {about(download_s)} at {REFERENCE_MBIT_S} Mbit/s (0 if in pip's cache),"
        f" unpack {about(unpack_s)}",
        f"  3. MNIST                one-time download (~{MNIST_DOWNLOAD_MB} MB) and MD5 check,"
        f" {MNIST_ON_DISK_MB} MB in data/MNIST/raw",
    ]
    readme_path = REPO / "README.md"
    readme = readme_path.read_text(encoding="utf-8") if readme_path.is_file() else ""
    if goal == "course" and phases:
        first, last = phases[0][:2], phases[-1][:2]
        lines.append(f"  4. phases {first}-{last}         {phases_line(phases, readme)}")
    elif goal == "test":
        lines.append("  4. tests                python -m pytest: offline, on the CPU")
    return lines


# --- disk space ----------------------------------------------------------------------------------


def pip_cache_dir() -> Path | None:
    """Where pip will cache downloads (None when caching is off), without asking pip."""
    if os.environ.get("PIP_NO_CACHE_DIR", "").lower() in ("1", "true", "yes", "on"):
        return None
    if os.environ.get("PIP_CACHE_DIR"):
        return Path(os.environ["PIP_CACHE_DIR"])
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "pip"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", home)) / "pip" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME", home / ".cache")) / "pip"


def existing(path: Path) -> Path:
    """The path itself, or its nearest parent that exists (a cache folder may not exist yet)."""
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def folder_bytes(path: Path) -> int:
    """Disk space used by the files under path (0 when it does not exist)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            file = Path(root, name)
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def disk_needs(download: float, installed: float, venv: Path) -> list[tuple[Path, float]]:
    """(folder, bytes needed) per disk: .venv's packages, pip's temporary copy and its cache."""
    places = [(venv.parent, max(0.0, installed - folder_bytes(venv)) + DISK_MARGIN),
              (Path(tempfile.gettempdir()), download)]
    cache = pip_cache_dir()
    if cache is not None:
        places.append((cache, download * (PIP_DOWNLOAD_COPIES - 1)))
    by_disk: dict[int, tuple[Path, float]] = {}
    for folder, need in places:
        folder = existing(folder)
        device = folder.stat().st_dev
        first, total = by_disk.get(device, (folder, 0.0))
        by_disk[device] = (first, total + need)
    return list(by_disk.values())


def shortage_message(free: float, need: float, folder: Path, goal: str) -> str | None:
    """The one line shown when a disk is too full for the install, or None when it fits."""
    if free >= need:
        return None
    return (f"Not enough disk space: {size(free)} free in {folder}, about {size(need)} needed;"
            f" free some, then run `make {goal}` again.")


def check_disk(needs: list[tuple[Path, float]], goal: str) -> None:
    for folder, need in needs:
        message = shortage_message(shutil.disk_usage(folder).free, need, folder, goal)
        if message:
            raise SetupError(message)



def disk_line(needs: list[tuple[Path, float]]) -> str:
    """ "Disk: 70.2 GB free in /x, about 12.0 GB needed: enough" (one part per disk)."""
    parts = [f"{size(shutil.disk_usage(folder).free)} free in {folder}, about {size(need)} needed"
             for folder, need in needs]
    return "Disk: " + "; ".join(parts) + ": enough"


# --- the steps -----------------------------------------------------------------------------------


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def is_installed(venv: Path, requirements: Path) -> bool:
    """The stamp .venv/.installed exists, is newer than requirements.txt, and .venv has Python."""
    stamp = venv / ".installed"
    return (stamp.is_file() and venv_python(venv).exists()
            and stamp.stat().st_mtime >= requirements.stat().st_mtime)


def check_python(version: tuple[int, ...], goal: str) -> None:
    if tuple(version[:2]) < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        have = ".".join(map(str, version[:3]))
        raise SetupError(f"The course needs Python {need}+, but python3 is {have}: install a newer"
                         f" one and run `make {goal} PYTHON=python3.12` (or its name).")


def install(venv: Path, verbose: bool) -> None:
    """Create .venv and upgrade its pip (quiet), then install requirements.txt (one line each)."""
    venv.mkdir(parents=True, exist_ok=True)
    log = venv / "install.log"
    python = str(venv_python(venv))
    print(f"Creating {venv.name}/ and updating its pip ...", flush=True)
    if not venv_python(venv).exists():
        run_quiet([sys.executable, "-m", "venv", str(venv)], "creating .venv", log, verbose)
    run_quiet([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
              "updating pip", log, verbose)
    print("Installing the packages" + ("" if verbose else " (one line each)") + ":", flush=True)
    requirements = str(REPO / "requirements.txt")
    bars = [] if verbose else progress_option(python)  # verbose: pip's own progress bars
    run_pip_install([python, "-m", "pip", "install", "-r", requirements] + bars,
                    log, verbose, lambda: installed_packages(venv))


def installed_packages(venv: Path) -> int:
    """How many packages .venv holds now (pip writes a *.dist-info folder as it finishes one)."""
    return sum(1 for _ in venv.glob("[lL]ib/*/site-packages/*.dist-info")) + sum(
        1 for _ in venv.glob("Lib/site-packages/*.dist-info"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--goal", default="course", help="the make target: course, test, ...")
    parser.add_argument("--phases", nargs="*", default=[], help="the scripts `make course` runs")
    parser.add_argument("--venv", default=".venv", help="the virtual environment's folder")
    parser.add_argument("--need-gb", type=float, default=None,
                        help="free disk space to require, in GB, instead of the computed need")
    parser.add_argument("--verbose", action="store_true", help="show every step's whole output")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    goal = args.goal
    venv = REPO / args.venv
    if is_installed(venv, REPO / "requirements.txt"):
        print(f"packages already installed in {args.venv} (delete {args.venv} to reinstall)")
        return 0
    start = time.monotonic()
    try:
        check_python(sys.version_info, goal)
        platform_id = (platform.system(), platform.machine())
        download, installed, _ = footprint(*platform_id)
        print("\n".join(plan_lines(goal, args.phases, platform_id, venv.exists())))
        if args.need_gb is not None:
            needs = [(REPO, args.need_gb * GB)]
        else:
            needs = disk_needs(download, installed, venv)
        check_disk(needs, goal)
        print(disk_line(needs), flush=True)
        install(venv, args.verbose)
    except SetupError as error:
        sys.stdout.flush()
        print(error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nSetup interrupted: run `make {goal}` again to go on (pip skips what it has).",
              file=sys.stderr)
        return 130
    (venv / ".installed").touch()
    minutes, seconds = divmod(time.monotonic() - start, 60)
    print(f"Packages installed in {minutes:.0f} min {seconds:02.0f} s:"
          f" {size(folder_bytes(venv))} in {args.venv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
