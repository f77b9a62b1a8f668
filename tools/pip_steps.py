"""Running pip for tools/bootstrap.py: quiet small steps, one line per package, one-line failures.

Standard library only (it runs before the virtual environment exists). pip's whole output goes to
a log file; the screen gets one line per package and, in a terminal, a live status line (download
percentage, seconds spent unpacking). Without a terminal (CI, a pipe) only whole lines are
printed, so a CI log stays short. A failure raises :class:`SetupError` with one line: what failed,
what to try, and where the log is.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

STATUS_REFRESH_S = 0.5  # how often a terminal's status line ticks while pip is silent


class SetupError(Exception):
    """A step that failed: its message is the one line the learner sees."""


# --- pip's output, one line per package ----------------------------------------------------------


def wheel_name(filename: str) -> str:
    """ "torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl" -> "torch 2.14.1"."""
    if filename.endswith(".whl"):
        return " ".join(filename.split("-")[:2])
    return re.sub(r"\.(tar\.gz|zip)$", "", filename)


class PipView:
    """Turns pip's output lines into one line per package and, in a terminal, a live status.

    In a terminal the current line is rewritten in place (download percentage, seconds spent
    unpacking); without one (CI, a pipe) only whole lines are printed, so a log stays short.
    """

    def __init__(self, out, live: bool, width: int = 100):
        self.out, self.live, self.width = out, live, width
        self.status = ""  # what the live line shows now
        self.current = ""  # the package line being downloaded
        self.phase, self.phase_start = "resolving", time.monotonic()
        self.collected = self.downloaded = 0

    def feed(self, line: str) -> None:
        line = line.rstrip()
        text = line.strip()
        progress = re.match(r"Progress (\d+) of (\d+)", text)
        fetched = re.match(r"(Downloading|Using cached|Processing) (\S+)(?: \((.*)\))?", text)
        if progress:
            done, total = int(progress.group(1)), int(progress.group(2))
            if total and self.current:
                self._show(f"{self.current}  {100 * done // total:3d}%")
        elif fetched and not fetched.group(2).endswith(".metadata"):
            how = {"Downloading": "downloading", "Using cached": "from pip's cache",
                   "Processing": "local file"}[fetched.group(1)]
            self._finish_current()
            self.current = f"  {wheel_name(Path(fetched.group(2)).name):<36}" \
                           f"{fetched.group(3) or '':>10}  {how}"
            if self.live:
                self._show(self.current)
            else:
                self._print(self.current)
        elif text.startswith("Collecting "):
            self.collected += 1
            self._show(f"  resolving versions: {self.collected} packages so far"
                       f" ({text.split()[1]})")
        elif text.startswith("Installing collected packages:"):
            self._finish_current()
            count = len(text.split(":", 1)[1].split(","))
            self.phase, self.phase_start = "unpacking", time.monotonic()
            self._print(f"  unpacking {count} packages into .venv (quiet for a minute or two)")
        elif text.startswith("WARNING: Retrying"):
            self._print("  network trouble: pip is retrying")

    def tick(self) -> None:
        """Called while pip is silent: a terminal's status line shows that time goes on."""
        if self.live and self.phase == "unpacking":
            self._show(f"  unpacking ... {time.monotonic() - self.phase_start:.0f} s")

    def close(self) -> None:
        self._finish_current()
        self._show("")

    def _finish_current(self) -> None:
        if self.current and self.live:
            self._show("")
            self._print(self.current)
        self.current = ""

    def _show(self, text: str) -> None:
        if not self.live:
            return
        text = text[: self.width - 1]
        self.out.write("\r" + text.ljust(len(self.status)) + ("\r" + text if text else "\r"))
        self.out.flush()
        self.status = text

    def _print(self, text: str) -> None:
        if self.live and self.status:
            self.out.write("\r" + " " * len(self.status) + "\r")
            self.status = ""
        self.out.write(text + "\n")
        self.out.flush()


# --- running the steps ---------------------------------------------------------------------------

FAILURE_HINTS = (  # (pattern in pip's output, what to try), the first match wins
    (r"No space left on device|Errno 28",
     "the disk filled up: free some space"),
    (r"No matching distribution found for (torch|torchvision)\b",
     "no PyTorch for this Python/platform, or no network: check the connection, or try "
     "PYTHON=python3.12"),
    (r"ConnectionError|NewConnectionError|Max retries exceeded|ReadTimeout|timed out"
     r"|Temporary failure in name resolution|No matching distribution found|SSLError",
     "could not reach the package index: check the network (or proxy), then try again"),
    (r"do not match the hashes|HASH", "a download arrived damaged: try again"),
    (r"ensurepip|No module named venv",
     "Python's venv module is missing: on Debian/Ubuntu `sudo apt install python3-venv`"),
)


def failure_line(step: str, output: str, log: Path) -> str:
    """One line: what failed, what to try, where pip's whole output is."""
    hint = next((h for pattern, h in FAILURE_HINTS if re.search(pattern, output)),
                "see the log, or run again with VERBOSE=1 to see everything")
    return f"Setup failed while {step}: {hint}. Full output: {_display(log)}"


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONUNBUFFERED="1", PIP_NO_INPUT="1",
                PIP_DISABLE_PIP_VERSION_CHECK="1")


def run_quiet(cmd: list[str], step: str, log: Path, verbose: bool) -> None:
    """A small step: its output goes to the log (and to the screen with --verbose)."""
    with log.open("a", encoding="utf-8") as file:
        file.write(f"\n$ {' '.join(cmd)}\n")
        file.flush()
        if verbose:
            result = subprocess.run(cmd, stdin=subprocess.DEVNULL, env=_env())
            output = ""
        else:
            result = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, env=_env())
            output = result.stdout.decode("utf-8", "replace")
            file.write(output)
    if result.returncode != 0:
        raise SetupError(failure_line(step, output or log.read_text("utf-8", "replace"), log))


def run_pip_install(cmd: list[str], log: Path, verbose: bool, out=sys.stdout) -> None:
    """The big step: one line per package, pip's whole output in the log."""
    if verbose:  # pip's own output and progress bars; its verbose log goes to the file too
        run_quiet(cmd + ["--log", str(log)], "installing the packages", log, verbose=True)
        return
    view = PipView(out, live=out.isatty(), width=shutil.get_terminal_size().columns)
    lines: queue.Queue = queue.Queue()
    with log.open("a", encoding="utf-8") as file:
        file.write(f"\n$ {' '.join(cmd)}\n")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=_env())
        reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True)
        reader.start()
        while True:
            try:
                line = lines.get(timeout=STATUS_REFRESH_S)
            except queue.Empty:
                view.tick()
                continue
            if line is None:
                break
            if not line.startswith("Progress "):  # the 4-per-second download counters
                file.write(line)
            view.feed(line)
        returncode = proc.wait()
        view.close()
    if returncode != 0:
        output = log.read_text("utf-8", "replace")
        raise SetupError(failure_line("installing the packages", output, log))


def _read_lines(stream, lines: queue.Queue) -> None:
    for raw in iter(stream.readline, b""):
        lines.put(raw.decode("utf-8", "replace"))
    lines.put(None)


def progress_option(venv_python: str) -> list[str]:
    """--progress-bar raw (live percentages we can draw) where this pip has it (pip >= 24.1)."""
    result = subprocess.run([venv_python, "-m", "pip", "install", "--help"], env=_env(),
                            stdin=subprocess.DEVNULL, capture_output=True, text=True)
    return ["--progress-bar", "raw" if "raw" in result.stdout else "off"]
