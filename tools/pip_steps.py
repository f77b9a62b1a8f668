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


SIZE = r"[\d.]+ [kMG]?B"  # as pip prints a file size: "554.6 MB", "22 kB"
FETCHED = {"Downloading": "downloading", "Using cached": "from pip's cache",
           "Processing": "local file"}


def file_size(path: Path) -> str:
    """A local file's size as pip prints sizes ("554.6 MB"); "" when it is not a local file."""
    try:
        num_bytes = path.stat().st_size
    except OSError:
        return ""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if num_bytes >= scale:
            return f"{num_bytes / scale:.1f} {unit}"
    return f"{num_bytes} B"


class PipView:
    """Turns pip's output lines into one line per package and, in a terminal, a live status.

    In a terminal the last line is rewritten in place (download percentage, packages unpacked so
    far); without one (CI, a pipe) only whole lines are printed, so a log stays short.
    ``count_installed()`` says how many packages .venv holds (for the unpacking status).
    """

    def __init__(self, out, live: bool, width: int = 100, count_installed=None):
        self.out, self.live, self.width = out, live, width
        self.count_installed = count_installed or (lambda: 0)
        self.status = ""  # what the live line shows now
        self.current = ""  # the package line of the download in progress
        self.collected = self.retries = 0  # requirements looked at, network retries
        self.unpacking: tuple[float, int, int] | None = None  # (start, count before, to unpack)

    def feed(self, line: str) -> None:
        text = line.strip()
        progress = re.match(r"Progress (\d+) of (\d+)", text)
        fetched = re.match(rf"({'|'.join(FETCHED)}) (\S+)(?: \(({SIZE})\))?", text)
        if progress:
            done, total = int(progress.group(1)), int(progress.group(2))
            if total and self.current:
                self._show(f"{self.current} {100 * done // total:3d}%")
        elif fetched and not fetched.group(2).endswith(".metadata"):
            self._finish_current()
            self.collected += fetched.group(1) == "Processing"  # a local file: no "Collecting"
            path = Path(fetched.group(2))
            name, size = wheel_name(path.name), fetched.group(3) or file_size(path)
            self.current = f"  {name:<36}{size:>10}  {FETCHED[fetched.group(1)]}"
            if self.live:
                self._show(self.current)
            else:
                self._print(self.current)
        elif text.startswith("Collecting "):
            self.collected += 1
            self._show(f"  looking up versions: {self.collected} so far ({text.split()[1]})")
        elif text.startswith("Installing collected packages:"):
            self._finish_current()
            count = len(text.split(":", 1)[1].split(","))
            self.unpacking = (time.monotonic(), self.count_installed(), count)
            self._print(f"  unpacking {count} packages into .venv (the longest quiet step) ...")
        elif text.startswith("WARNING: Retrying"):
            self.retries += 1
            if self.live:
                self._show(f"  network trouble: pip is retrying ({self.retries})")
            elif self.retries == 1:
                self._print("  network trouble: pip is retrying")

    def tick(self) -> None:
        """Called while pip is silent: a terminal's status line shows that work goes on."""
        if self.unpacking:
            start, before, count = self.unpacking
            done = min(count, max(0, self.count_installed() - before))
            self._show(f"  unpacking: {done} of {count} packages done,"
                       f" {time.monotonic() - start:.0f} s")

    def close(self) -> None:
        self._finish_current()
        self._show("")

    def _finish_current(self) -> None:
        if self.current and self.live:
            self._print(self.current.replace("downloading", "downloaded "))
        self.current = ""

    def _show(self, text: str) -> None:
        text = text[: self.width - 1]
        if not self.live or text == self.status:
            return
        self.out.write("\r" + text.ljust(len(self.status)) + "\r" + text)
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
    (r"No space left on device|Errno 28", "the disk filled up: free some space"),
    (r"ConnectionError|Max retries exceeded|ReadTimeout|timed out|name resolution|SSLError"
     r"|ProxyError", "could not reach the package index: check the network (or proxy)"),
    (r"No matching distribution found for (torch|torchvision)\b",
     "pip found no PyTorch: check the network; if it works, this Python may be too new for"
     " PyTorch (try PYTHON=python3.12)"),
    (r"No matching distribution found", "the package index lacks a package: check the network"),
    (r"(?i)do not match the hashes", "a download arrived damaged: try again"),
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


def run_pip_install(cmd: list[str], log: Path, verbose: bool, count_installed=None,
                    out=sys.stdout) -> None:
    """The big step: one line per package, pip's whole output in the log."""
    if verbose:  # pip's own output and progress bars; its verbose log goes to the file too
        run_quiet(cmd + ["--log", str(log)], "installing the packages", log, verbose=True)
        return
    view = PipView(out, out.isatty(), shutil.get_terminal_size().columns, count_installed)
    lines: queue.Queue = queue.Queue()
    captured = []  # this step's output, for the failure line
    with log.open("a", encoding="utf-8") as file:
        file.write(f"\n$ {' '.join(cmd)}\n")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=_env())
        threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
        try:
            for line in iter(lambda: _next_line(lines, view), None):
                if not line.startswith("Progress "):  # 4 download counters a second: not kept
                    file.write(line)
                    captured.append(line)
                view.feed(line)
            returncode = proc.wait()
        finally:
            view.close()
            if proc.poll() is None:  # interrupted (Ctrl-C): pip does not outlive us
                proc.terminate()
    if returncode != 0:
        raise SetupError(failure_line("installing the packages", "".join(captured), log))


def _next_line(lines: queue.Queue, view: PipView) -> str | None:
    """pip's next output line (None at its end); while pip is silent, the view ticks."""
    while True:
        try:
            return lines.get(timeout=STATUS_REFRESH_S)
        except queue.Empty:
            view.tick()


def _read_lines(stream, lines: queue.Queue) -> None:
    for raw in iter(stream.readline, b""):
        lines.put(raw.decode("utf-8", "replace"))
    lines.put(None)


def progress_option(venv_python: str) -> list[str]:
    """--progress-bar raw (live percentages we can draw) where this pip has it (pip >= 24.1)."""
    result = subprocess.run([venv_python, "-m", "pip", "install", "--help"], env=_env(),
                            stdin=subprocess.DEVNULL, capture_output=True, text=True)
    return ["--progress-bar", "raw" if "raw" in result.stdout else "off"]
