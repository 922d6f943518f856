"""Figures of searches: strategies compared over seeds, the progress of one study, and the
accuracy of a study's trials against their parameter counts.

matplotlib is imported lazily, inside the functions, with the non-interactive ``Agg`` backend,
so importing this module (and starting the CLI) stays fast and works without a display.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from einnas.study.trial import Trial

__all__ = ["DPI", "plot_accuracy_vs_params", "plot_strategy_comparison", "plot_study_progress"]

DPI = 120


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out_path: str | os.PathLike[str]) -> str:
    path = os.fspath(out_path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    _pyplot().close(fig)
    return path


def plot_strategy_comparison(
    curves: Mapping[str, npt.ArrayLike],
    out_path: str | os.PathLike[str],
    title: str = "",
    *,
    ylabel: str = "test accuracy of the selected architecture (%)",
) -> str:
    """Mean best-so-far curve of each strategy over seeds, with a ± standard-error band.

    Args:
        curves: ``{strategy: array (seeds, queries)}``; entry ``[s, q]`` is the value reported
            by seed ``s`` after ``q + 1`` queries (NaN before the first successful trial).
        out_path: the PNG to write (its folder is created).
        title: the figure title.

    Returns:
        The path written.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    lows: list[float] = []
    highs: list[float] = []
    for name, values in curves.items():
        arr = np.atleast_2d(np.asarray(values, dtype=np.float64))
        if arr.size == 0:
            continue
        x = np.arange(1, arr.shape[1] + 1)
        finite = np.isfinite(arr)
        count = finite.sum(axis=0)
        ok = count > 0
        total = np.where(finite, arr, 0.0).sum(axis=0)
        mean = np.divide(total, count, out=np.full(arr.shape[1], np.nan), where=ok)
        dev = np.where(finite, arr - mean, 0.0)
        var = np.divide(
            (dev**2).sum(axis=0), count - 1, out=np.zeros(arr.shape[1]), where=count > 1
        )
        sem = np.sqrt(var) / np.sqrt(np.maximum(count, 1))
        (line,) = ax.plot(x[ok], mean[ok], lw=1.8, label=f"{name} (n={int(count.max())})")
        ax.fill_between(
            x[ok], (mean - sem)[ok], (mean + sem)[ok], color=line.get_color(), alpha=0.2, lw=0
        )
        # Keep the informative part of the curves in view: skip the first few noisy queries.
        tail = mean[ok][min(len(mean[ok]) - 1, max(0, len(mean[ok]) // 10)) :]
        if tail.size:
            lows.append(float(np.nanmin(tail)))
            highs.append(float(np.nanmax((mean + sem)[ok])))
    ax.set_xlabel("number of queries (architectures evaluated)")
    ax.set_ylabel(ylabel)
    if lows:
        bottom, top = ax.get_ylim()
        lo, hi = min(lows), max(highs)
        pad = 0.08 * (hi - lo) if hi > lo else 0.5
        ax.set_ylim(max(bottom, lo - pad), min(top, hi + pad))
    ax.set_title((title + "\n" if title else "") + "mean over seeds, band = ± standard error")
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(loc="lower right")
    fig.tight_layout()
    return _save(fig, out_path)


def plot_study_progress(
    trials: Sequence[Trial],
    out_path: str | os.PathLike[str],
    title: str = "",
    *,
    ylabel: str = "accuracy (%)",
    xlabel: str = "trial number",
) -> str:
    """One study: every trial's validation value, the best-so-far validation value, and the
    test value of the current best trial, against the trial number.

    Failed, running and interrupted trials have no value and are not drawn (the x axis keeps
    their numbers).  The current best is the highest validation value so far (the earlier trial
    on ties).

    Returns:
        The path written.
    """
    plt = _pyplot()
    ordered = sorted(trials, key=lambda t: t.number)
    xs: list[int] = []
    vals: list[float] = []
    best_x: list[int] = []
    best_val: list[float] = []
    best_test: list[float] = []
    current: Trial | None = None
    for t in ordered:
        if t.val is not None and t.state.value == "complete":
            xs.append(t.number)
            vals.append(t.val)
            if current is None or current.val is None or t.val > current.val:
                current = t
        if current is not None and current.val is not None:
            best_x.append(t.number)
            best_val.append(current.val)
            best_test.append(np.nan if current.test is None else current.test)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    ax.scatter(xs, vals, s=12, color="0.55", alpha=0.6, label="validation (every trial)")
    if best_x:
        ax.step(best_x, best_val, where="post", lw=2, color="C0", label="best validation so far")
        if np.isfinite(best_test).any():
            ax.step(
                best_x, best_test, where="post", lw=1.6, ls="--", color="C3",
                label="test of the current best",
            )  # fmt: skip
        # Zoom on the useful range: a few very poor trials would squash everything else.
        curve = np.asarray([*best_val, *best_test], dtype=np.float64)
        hi = float(np.nanmax([*curve, *vals]))
        lo = min(float(np.nanmin(curve)), float(np.percentile(vals, 10)))
        pad = 0.05 * (hi - lo) if hi > lo else 1.0
        ax.set_ylim(lo - pad, hi + pad)
        below = sum(v < lo - pad for v in vals)
        if below:
            ax.annotate(
                f"{below} trial(s) below the axis",
                xy=(0.01, 0.01), xycoords="axes fraction", fontsize=8, color="0.4",
            )  # fmt: skip
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trial numbers
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "study progress")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return _save(fig, out_path)


def _trial_params(trial: Trial) -> int | None:
    """The parameter count recorded in a trial's metrics (the training evaluator's ``params``)."""
    value = trial.metrics.get("params")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return int(value)


def plot_accuracy_vs_params(
    trials: Sequence[Trial],
    out_path: str | os.PathLike[str],
    title: str = "",
    *,
    highlight_arch: str | None = None,
    ylabel: str = "validation accuracy (%)",
) -> str:
    """Every completed trial's validation value against its parameter count (log scale), with
    the Pareto front (the best value reachable with at most that many parameters).

    The parameter count is the ``params`` entry of the trial's metrics; trials without one or
    without a value are left out (their number is noted on the figure).  Trials whose ``arch``
    equals ``highlight_arch`` (e.g. the architecture chosen for the final training) are marked.

    Returns:
        The path written.
    """
    plt = _pyplot()
    points: list[tuple[int, float]] = []
    marked: list[tuple[int, float]] = []
    left_out = 0
    for t in trials:
        params = _trial_params(t)
        if t.state.value != "complete" or t.val is None or params is None:
            left_out += 1
            continue
        points.append((params, t.val))
        if highlight_arch is not None and t.arch == highlight_arch:
            marked.append((params, t.val))
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    if points:
        xs, ys = zip(*points)
        ax.scatter(xs, ys, s=14, color="C0", alpha=0.6, label=f"trials (n={len(points)})")
        front_x: list[int] = []
        front_y: list[float] = []
        for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
            if not front_y or y > front_y[-1]:
                front_x.append(x)
                front_y.append(y)
        ax.step(front_x, front_y, where="post", lw=1.5, color="C1", label="Pareto front")
        ax.set_xscale("log")
    if marked:
        mx, my = zip(*marked)
        ax.scatter(mx, my, s=120, marker="*", color="C3", zorder=3, label="final architecture")
    if left_out:
        ax.annotate(
            f"{left_out} trial(s) without a value or parameter count not shown",
            xy=(0.01, 0.01), xycoords="axes fraction", fontsize=8, color="0.4",
        )  # fmt: skip
    ax.set_xlabel("parameters")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "accuracy vs parameters")
    ax.grid(True, alpha=0.3, which="both")
    if points:
        ax.legend(loc="lower right")
    fig.tight_layout()
    return _save(fig, out_path)
