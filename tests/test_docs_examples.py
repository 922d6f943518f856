"""Every code example in README.md and docs/*.md runs against the current code.

* A fenced ```` ```python ```` block is written to a file and run as a script in a fresh
  interpreter, in an empty temporary folder (fresh module namespace, nothing registered).
* In a fenced ```` ```bash ```` block every command starting with ``einnas `` (also after
  ``&&`` or ``|``) is run in-process through :func:`einnas.cli.main`, in order, in one
  temporary folder per block, so a command can use what an earlier one wrote (``runs.db``,
  ``runs/<study>/``).  Other commands (``bash scripts/...``, ``pip install ...``, ``python
  benchmarks/...``) are not run: ``scripts/test.sh`` *is* the test run, and the example plug-in
  is installed by ``scripts/setup.sh``.
* Budgets are shrunk by the one table :data:`SHRINK` below, so that a README command that takes
  minutes runs in seconds; nothing else about a command is changed.
* A block whose preceding non-blank line is ``<!-- no-run -->`` is skipped (it must say why in
  the text: used for file layouts and non-Python snippets only).
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.metadata
import io
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from einnas.benchmark_data import benchmark_dir_or_none

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NO_RUN = "<!-- no-run -->"

# ---------------------------------------------------------------------------------------------
# THE table of budget-shrinking substitutions (applied, in order, to each einnas command).
# (pattern, replacement): a regular-expression substitution on the command line; a replacement
# starting with "+" appends those flags when the pattern matches and the flag is not there yet.
SHRINK: list[tuple[str, str | Callable[[re.Match[str]], str]]] = [
    # search: 2 evaluations, 3 from 150 (so "raise --budget to extend" still extends)
    (r"--budget (\d+)", lambda m: f"--budget {max(2, int(m[1]) // 50)}"),
    (r"--budgets [\d,]+", "--budgets 2,3"),  # bench
    (r"--seeds \d+", "--seeds 2 --jobs 1"),  # bench / diagnose-doa: 2 seeds, in this process
    (r"--epochs \d+", "--epochs 1"),  # train / search
    (r"--final-epochs \d+", "--final-epochs 1"),
    (r"--n-archs \d+", "--n-archs 20"),  # diagnose-doa
    (r"-n \d+", "-n 3"),  # sample
    (r"--executor ray\b", "--executor inline"),  # Ray's start-up alone takes longer than the run
    (r"--workers \d+", "--workers 1"),  # einspace searches: no pool start-up
    # einspace searches (the default job included): 2 candidates, 1 epoch each, in this process;
    # the final training (1 epoch) and the run folder only for the small 1D networks
    (r"^einnas search --space einspace ", "+--final-epochs 0"),
    (
        r"^einnas search(?!.*--space (?!einspace))",
        "+--budget 2 --epochs 1 --final-epochs 1 --workers 1",
    ),
    (r"^einnas diagnose-doa", "+--seeds 1 --n-archs 20 --held-out-pairs 20"),
    (r"--train \d+", "--train 40"),  # make-dataset: a few examples per split
    (r"--valid \d+", "--valid 20"),
    (r"--test \d+", "--test 20"),
    (r"^einnas make-dataset addnist", "+--train 40 --valid 20 --test 20"),
]
# diagnose-doa has no --jobs: the --seeds rule adds it only where a bench command has --seeds
_NO_JOBS = ("diagnose-doa",)


def shrink(command: str) -> str:
    """``command`` with the :data:`SHRINK` substitutions applied."""
    for pattern, replacement in SHRINK:
        if isinstance(replacement, str) and replacement.startswith("+"):
            if re.search(pattern, command):
                for flag, value in zip(*[iter(replacement[1:].split())] * 2, strict=True):
                    if not re.search(rf"(^|\s){re.escape(flag)}(\s|$)", command):
                        command = f"{command} {flag} {value}"
        else:
            command = re.sub(pattern, replacement, command)
    if command.split()[1] in _NO_JOBS:
        command = command.replace(" --jobs 1", "")
    return command


# ---------------------------------------------------------------------------------------------
# Extraction


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    no_run: bool

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file."""
    out: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    previous = ""
    while i < len(lines):
        m = re.match(r"^(\s*)(```+)\s*([\w+-]*)", lines[i])
        if m is None:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line)
            i += 1
        out.append(Block(path, start + 1, lang, "\n".join(body) + "\n", previous == NO_RUN))
        previous = ""
        i += 1
    return out


def commands(block: Block) -> list[str]:
    """The ``einnas`` command lines of a bash block (continuations joined, comments dropped)."""
    joined = block.text.replace("\\\n", " ")
    out: list[str] = []
    for raw in joined.splitlines():
        words = shlex.split(raw, comments=True)
        text = " ".join(shlex.quote(w) if w not in ("&&", "|", ">") else w for w in words)
        for part in text.split(" && "):
            if part.startswith("einnas "):
                out.append(part)
    return out


ALL_BLOCKS = [b for path in DOC_FILES for b in blocks(path)]
PYTHON_BLOCKS = [b for b in ALL_BLOCKS if b.lang == "python"]
BASH_BLOCKS = [b for b in ALL_BLOCKS if b.lang in ("bash", "sh", "shell") and commands(b)]

# Examples that need the tabular benchmark folder (skipped cleanly when it is absent).
_NEEDS_DATA = re.compile(r"nb201|nasbench-macro|transnas|nb101")


def _needs(block: Block) -> None:
    if _NEEDS_DATA.search(block.text) and benchmark_dir_or_none() is None:
        pytest.skip("benchmark data folder not found (set EINNAS_BENCHMARK_DIR)")
    if "mlp1d" in block.text and not any(
        ep.name == "mlp1d" for ep in importlib.metadata.entry_points(group="einnas.spaces")
    ):
        pytest.skip("the example plug-in is not installed (scripts/setup.sh installs it)")


def test_the_docs_have_examples() -> None:
    """The extraction finds the examples (a broken fence must not silently run nothing)."""
    files = {b.path.name for b in PYTHON_BLOCKS}
    assert {"api.md", "plugins.md"} <= files
    assert any(b.path.name == "README.md" for b in BASH_BLOCKS)
    assert any(b.path.name == "cli.md" for b in BASH_BLOCKS)
    skipped = [b.id for b in ALL_BLOCKS if b.no_run]
    assert len(skipped) <= 3, f"too many {NO_RUN} blocks: {skipped}"


def test_shrink_table() -> None:
    assert (
        shrink("einnas search")
        == "einnas search --budget 2 --epochs 1 --final-epochs 1 --workers 1"
    )
    assert (
        shrink("einnas bench --space nb201 --budgets 50,100,150 --seeds 100")
        == "einnas bench --space nb201 --budgets 2,3 --seeds 2 --jobs 1"
    )
    assert shrink("einnas search --space nb201 --budget 150").endswith("--budget 3")
    assert shrink("einnas search --space nb201 --budget 100").endswith("--budget 2")


# ---------------------------------------------------------------------------------------------
# Running


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.id for b in PYTHON_BLOCKS])
def test_python_example(block: Block, tmp_path: Path) -> None:
    if block.no_run:
        pytest.skip(f"marked {NO_RUN}")
    _needs(block)
    script = tmp_path / "example.py"
    script.write_text(block.text, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    env.setdefault("MPLBACKEND", "Agg")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"{block.id} failed (exit {result.returncode}):\n{block.text}\n"
        f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-5000:]}"
    )


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _fixtures(folder: Path) -> dict[str, str]:
    """Small stand-ins for the data the examples name; returns environment overrides."""
    rng = np.random.default_rng(0)
    # "your own data" (an Unseen-NAS folder): 3x28x28 images, 4 classes, a few examples
    for name in ("path/to/folder", "path/to/unseen_nas_folder"):
        data = folder / name
        data.mkdir(parents=True)
        for split, n in (("train", 24), ("valid", 12), ("test", 12)):
            np.save(data / f"{split}_x.npy", rng.normal(size=(n, 3, 28, 28)).astype(np.float32))
            np.save(data / f"{split}_y.npy", np.arange(n) % 4)
    # Fashion-MNIST (Debian's dataset-fashion-mnist) for make-dataset addnist: 10 classes
    fm = folder.parent / f"{folder.name}-fashion-mnist"
    fm.mkdir()
    for stem, n in (("train", 300), ("t10k", 100)):
        _write_idx(fm / f"{stem}-images-idx3-ubyte.gz", rng.integers(0, 256, size=(n, 28, 28)))
        _write_idx(fm / f"{stem}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return {"EINNAS_FASHION_MNIST_DIR": str(fm), "MPLBACKEND": "Agg"}


def _run(command: str, stdin: str) -> tuple[int, str, str]:
    from einnas.cli import main

    argv = shlex.split(command)[1:]
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue(), err.getvalue()


def run_line(line: str) -> str:
    """Run one command line (``a | b``, ``a > file``) of einnas commands; returns its stdout."""
    target = None
    if " > " in line:
        line, target = (s.strip() for s in line.rsplit(" > ", 1))
    stdin = ""
    for part in line.split(" | "):
        command = shrink(part.strip())
        assert command.startswith("einnas "), f"not an einnas command in a pipe: {part!r}"
        code, stdin, err = _run(command, stdin)
        assert code == 0, f"`{command}` exited {code}:\n{err[-5000:]}\n{stdin[-2000:]}"
    if target is not None:
        Path(target).write_text(stdin, encoding="utf-8")
    return stdin


@pytest.mark.parametrize("block", BASH_BLOCKS, ids=[b.id for b in BASH_BLOCKS])
def test_cli_example(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if block.no_run:
        pytest.skip(f"marked {NO_RUN}")
    _needs(block)
    work = tmp_path / "work"
    work.mkdir()
    for key, value in _fixtures(work).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(work)
    # one torch thread per process: on a busy machine more threads make training slower
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for line in commands(block):
            run_line(line)
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------
# Transcripts: fenced blocks without a language (benchmark figures with the command that printed
# them) are not run -- they take minutes to hours -- but every einnas command in them must still
# parse with the current command line, so a renamed or removed flag shows up here.


def transcript_commands() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for block in ALL_BLOCKS:
        if block.lang in ("python", "bash", "sh", "shell", "toml"):
            continue
        for raw in block.text.replace("\\\n", " ").splitlines():
            for part in raw.strip().split(" && "):
                part = part.removeprefix("time ").strip()
                if part.startswith("einnas ") and "..." not in part:
                    out.append((block.id, part))
    return out


TRANSCRIPTS = transcript_commands()


def test_transcript_commands_parse() -> None:
    from einnas.cli import build_parser

    assert len(TRANSCRIPTS) >= 10
    parser = build_parser()
    bad: list[str] = []
    for where, command in TRANSCRIPTS:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                parser.parse_args(shlex.split(command, comments=True)[1:])
        except SystemExit:
            bad.append(f"{where}: {command}\n  {err.getvalue().strip().splitlines()[-1]}")
    assert not bad, "commands in the docs that no longer parse:\n" + "\n".join(bad)
