"""The figure of the DoA diagnostic (the paper's Fig. 3): error and rank correlation by edit count.

Two panels against the pair's edit distance: the mean absolute error of the predicted difference
``f(b) - f(a)``, and the rank correlation between predicted and true differences (Spearman solid,
Kendall dashed), for the DoA and the absolute predictor; error bars are the standard deviation
over seeds.  The shaded band marks the distances the DoA predictor was trained on (``<= radius``).
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import numpy as np

from einnas.viz.plots import _pyplot, _save

if TYPE_CHECKING:
    from einnas.diagnostics import DoADiagnosis

__all__ = ["plot_doa_diagnostic"]


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def plot_doa_diagnostic(
    diagnosis: DoADiagnosis, out_path: str | os.PathLike[str], title: str = ""
) -> str:
    """Write the two-panel figure of ``diagnosis`` to ``out_path`` (a PNG); returns the path."""
    plt = _pyplot()
    rows = diagnosis.rows
    x = np.array([r.distance for r in rows], dtype=np.float64)
    fig, (ax_err, ax_rank) = plt.subplots(1, 2, figsize=(10.0, 4.2))
    radius = diagnosis.config.radius
    styles = (("doa", "DoA g(e(b) - e(a))", "C0"), ("absolute", "absolute h(b) - h(a)", "C3"))
    for key, label, color in styles:
        metrics = [getattr(r, key) for r in rows]
        mae = np.array([m.mae for m in metrics])
        mae_sd = np.array([_nan(m.mae_std) for m in metrics])
        ax_err.errorbar(x, mae, yerr=np.nan_to_num(mae_sd), marker="o", color=color, label=label,
                        capsize=3)  # fmt: skip
        rho = np.array([m.spearman for m in metrics])
        rho_sd = np.array([_nan(m.spearman_std) for m in metrics])
        tau = np.array([m.kendall for m in metrics])
        ax_rank.errorbar(x, rho, yerr=np.nan_to_num(rho_sd), marker="o", color=color,
                         label=f"{label}: Spearman", capsize=3)  # fmt: skip
        ax_rank.plot(x, tau, ls="--", marker=".", color=color, label=f"{label}: Kendall")
    for ax in (ax_err, ax_rank):
        lo = float(x.min()) - 0.5 if x.size else 0.5
        if radius >= lo:
            ax.axvspan(lo, radius + 0.5, color="0.85", alpha=0.5, lw=0, label="trained distances")
        ax.set_xlabel("edit distance between a and b")
        ax.set_xticks(x)
        ax.grid(True, alpha=0.3)
    ax_err.set_ylabel("MAE of predicted f(b) - f(a)")
    ax_err.set_ylim(bottom=0)
    ax_rank.set_ylabel("rank correlation with the true difference")
    ax_err.legend(loc="best", fontsize=8)
    ax_rank.legend(loc="best", fontsize=7)
    cfg = diagnosis.config
    subtitle = (
        f"{cfg.predictor}, {cfg.n_archs} archs ({cfg.sampling}), pairs <= {radius} edits, "
        f"{cfg.pairs} test pairs, "
        f"{cfg.seeds} seed(s) (bars: std over seeds)"
    )
    fig.suptitle((title or diagnosis.table) + "\n" + subtitle, fontsize=10)
    fig.tight_layout()
    return _save(fig, out_path)
