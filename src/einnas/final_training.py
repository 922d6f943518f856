"""Final training of a found architecture: retrain from scratch on train + validation, test once.

The result is appended to the study's own log (a ``final`` study event), so rerunning a finished
search does not retrain the same architecture for the same number of epochs; the trained
weights and the tree are written to the run directory.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from einnas.study.storage import Storage

FINAL_EVENT = "final"


@contextlib.contextmanager
def _epoch_bar(
    epochs: int, enabled: bool
) -> Iterator[Callable[[int, int, float, float | None], None] | None]:
    """A per-epoch tqdm bar on stderr (loss, and val when measured), as an epoch hook."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=epochs, desc="final training", unit="epoch", file=sys.stderr, leave=True)

    def hook(epoch: int, total: int, loss: float, val: float | None) -> None:
        post = {"loss": f"{loss:.4f}"}
        if val is not None:
            post["val"] = f"{val:.2f}"
        bar.set_postfix(post, refresh=False)
        bar.update(epoch - bar.n)

    try:
        yield hook
    finally:
        bar.close()


@dataclass(frozen=True)
class FinalResult:
    arch: str
    test_acc: float | None
    epochs: int
    seed: int
    seconds: float
    params: int
    error: str | None
    out_dir: str
    reused: bool = False


def final_train(
    storage: Storage,
    study: str,
    arch: str,
    dataset: str,
    epochs: int,
    seed: int,
    out_dir: str | Path,
    device: str = "cpu",
    num_threads: int | None = None,
    progress: bool = False,
) -> FinalResult:
    """Train ``arch`` on train + val of ``dataset`` for ``epochs`` and report test accuracy.

    ``progress``: a tqdm bar on stderr, one step per epoch, with the epoch's training loss."""
    import torch

    from einnas.evaluators.training import TrainingConfig, epoch_progress, train_and_evaluate
    from einnas.evaluators.training import cached_dataset as load
    from einnas.grammar import parse, pretty

    out = Path(out_dir)
    for event in reversed(storage.study_events(study)):
        p: dict[str, Any] = dict(event.payload)
        if (
            event.kind == FINAL_EVENT
            and p.get("arch") == arch
            and p.get("epochs") == epochs
            and p.get("seed") == seed
        ) and (out / "model.pt").exists():
            return FinalResult(
                arch,
                p.get("test_acc"),
                epochs,
                seed,
                float(p.get("seconds", 0.0)),
                int(p.get("params", 0)),
                p.get("error"),
                str(out),
                reused=True,
            )
    config = TrainingConfig(epochs=epochs, device=device, num_threads=num_threads)  # type: ignore[arg-type]
    data = load(dataset, None)
    with _epoch_bar(epochs, progress) as hook, epoch_progress(hook):
        result = train_and_evaluate(arch, data, config, seed, final=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "best.txt").write_text(arch + "\n", encoding="utf-8")
    (out / "best_pretty.txt").write_text(pretty(parse(arch)) + "\n", encoding="utf-8")
    if result.model is not None:
        torch.save(result.model.state_dict(), out / "model.pt")
    payload = {
        "arch": arch,
        "dataset": dataset,
        "epochs": epochs,
        "seed": seed,
        "test_acc": result.test,
        "seconds": result.seconds,
        "params": result.params,
        "error": result.error,
    }
    (out / "final.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    storage.append_study_event(study, FINAL_EVENT, payload)
    return FinalResult(
        arch, result.test, epochs, seed, result.seconds, result.params, result.error, str(out)
    )
