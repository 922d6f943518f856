"""Training evaluator: compile an einspace tree, train it with the einspace protocol, score it.

The protocol (DECISIONS.md §2, einspace.md §5.2): SGD (lr 0.04, momentum 0.9, weight decay 3e-4),
``CosineAnnealingLR(T_max=epochs)`` stepped once per epoch, cross-entropy, batch 256 with shuffled,
``drop_last`` training batches, 8 epochs in the search phase.  After every epoch the network is
scored on the validation split (accuracy in %); the fitness is the **last** epoch's validation
accuracy.  The final phase (``final=True``) retrains from scratch on train + validation (64 epochs
by convention) and reports the test accuracy after the last epoch.

Everything is kept simple and fast on CPU: the whole data set lives in memory as tensors (on the
training device), batches are gathered by index with a seeded ``torch.Generator``, there is no
``DataLoader``.  For a given seed a CPU run is deterministic (``torch.manual_seed`` fixes the
initialisation, the generator the batch order).

On CUDA (``device="cuda"``) the same protocol runs through a step-based loop built for GPUs:
the whole training step is replayed from a CUDA graph, large networks train under bf16 autocast
with channels-last tensors, every convolution runs the faster of cuDNN and im2col + matmul, and
pool workers sharing one GPU each cap their share of its memory (see :class:`TrainingConfig`,
:func:`gpu_plan`, :func:`share_device`, :mod:`einnas.nn.step`, :mod:`einnas.nn.convselect`).
A CUDA out-of-memory error fails the trial (``failure == "oom"``) and frees its memory.

Failures are results, not exceptions: too many parameters (checked from the tree before anything is
built), a non-finite training loss and the wall-clock limit each give a :class:`TrainingResult`
with ``error`` set.  Anything else (an invalid tree, host out of memory) raises, and
:func:`einnas.evaluators.base.run_evaluation` turns it into a failed trial.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import math
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Literal

import torch
from torch import Tensor, nn

from einnas.data.datasets import Dataset, canonical_dataset_name, load_dataset
from einnas.evaluators.base import EvalResult, EvalTask
from einnas.grammar import Module, analyze, network_params, parse
from einnas.nn.compile import compile_network
from einnas.nn.convselect import autoselect_convs
from einnas.nn.step import TrainStep

__all__ = [
    "GpuPlan",
    "TrainingConfig",
    "TrainingEvaluator",
    "TrainingResult",
    "gpu_plan",
    "resolve_device",
    "share_device",
    "train_and_evaluate",
]

Device = Literal["cpu", "cuda", "auto"]
GpuSwitch = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters and limits of one training run (defaults: the einspace search phase).

    ``max_params`` fails a network with more parameters (backbone + head) before it is built;
    ``max_seconds`` fails a run whose wall-clock time (training + evaluation) exceeds it (checked
    after every batch and every evaluation, so one very slow batch can overrun it);
    ``num_threads`` sets ``torch.set_num_threads`` in the evaluating process.

    The GPU switches (``"auto"``, ``"on"`` or ``"off"``) act on CUDA only; CPU training ignores
    them.  ``amp``: bf16 autocast (auto: on when a batch costs at least
    :data:`AMP_MIN_BATCH_MACS` multiply-accumulates); ``channels_last``: channels-last images and
    weights (auto: with bf16 on image inputs); ``cuda_graphs``: replay the whole training step
    from a CUDA graph (auto: on); ``conv_select``: per layer shape, the faster of cuDNN and
    im2col + matmul (auto: on; see :mod:`einnas.nn.convselect`).
    """

    epochs: int = 8
    batch_size: int = 256
    lr: float = 0.04
    momentum: float = 0.9
    weight_decay: float = 3e-4
    device: Device = "cpu"
    max_params: int | None = None
    max_seconds: float | None = None
    num_threads: int | None = None
    eval_batch_size: int = 1024
    drop_last: bool = True
    amp: GpuSwitch = "auto"
    channels_last: GpuSwitch = "auto"
    cuda_graphs: GpuSwitch = "auto"
    conv_select: GpuSwitch = "auto"

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError("batch sizes must be >= 1")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {self.device!r}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {self.num_threads}")
        for name in ("amp", "channels_last", "cuda_graphs", "conv_select"):
            if getattr(self, name) not in ("auto", "on", "off"):
                raise ValueError(
                    f"{name} must be 'auto', 'on' or 'off', got {getattr(self, name)!r}"
                )


AMP_MIN_BATCH_MACS = 4e9
"""``amp="auto"`` turns bf16 autocast on when one training batch costs at least this many
multiply-accumulates (forward): below it a network is bound by kernel launches and the casts only
add kernels (the default job's candidates, ~1M MACs per example, stay in fp32; ResNet-18 on
32x32 images, ~0.16G, runs in bf16)."""

MEMORY_HEADROOM = 0.9
"""Share of the accelerator's memory that the pool workers sharing it may take together."""

_SHARED_WORKERS = 1
_MEMORY_GUARDED: set[str] = set()


def share_device(workers: int) -> None:
    """Declare that this process shares its accelerator with ``workers - 1`` other processes.

    Called in every worker of a process pool.  On the first CUDA training of the process, the
    caching allocator is then capped at ``MEMORY_HEADROOM / workers`` of the device's memory
    (``torch.cuda.set_per_process_memory_fraction``), so that one big candidate cannot starve
    the others: it fails with a CUDA out-of-memory error, which fails that trial only.
    """
    global _SHARED_WORKERS
    _SHARED_WORKERS = max(1, int(workers))


def _guard_memory(device: torch.device) -> None:
    if device.type != "cuda" or _SHARED_WORKERS <= 1 or str(device) in _MEMORY_GUARDED:
        return
    index = device.index if device.index is not None else torch.cuda.current_device()
    torch.cuda.set_per_process_memory_fraction(min(1.0, MEMORY_HEADROOM / _SHARED_WORKERS), index)
    _MEMORY_GUARDED.add(str(device))


@dataclass(frozen=True)
class GpuPlan:
    """What the step-based training loop does: autocast dtype, channels-last, graphs, conv choice."""

    amp: torch.dtype | None
    channels_last: bool
    cuda_graphs: bool
    conv_select: bool
    cudnn_benchmark: bool = False


def gpu_plan(
    cfg: TrainingConfig, macs: int, input_shape: tuple[int, ...], device: torch.device
) -> GpuPlan | None:
    """The GPU settings of a run, or ``None`` for the plain CPU loop.

    On CUDA every ``"auto"`` switch is resolved (see :class:`TrainingConfig`).  On CPU the plain
    loop of earlier versions runs (same results as always) unless a switch is ``"on"``: then the
    step-based loop runs on CPU too (CUDA graphs are skipped there), which lets the GPU code path
    be tested without a GPU.
    """
    cuda = device.type == "cuda"
    switches = (cfg.amp, cfg.channels_last, cfg.cuda_graphs, cfg.conv_select)
    if not cuda and "on" not in switches:
        return None

    def on(switch: str, auto: bool) -> bool:
        return switch == "on" or (switch == "auto" and cuda and auto)

    big = macs * cfg.batch_size >= AMP_MIN_BATCH_MACS
    amp = on(cfg.amp, big)
    channels_last = on(cfg.channels_last, amp) and len(input_shape) == 3
    return GpuPlan(
        torch.bfloat16 if amp else None,
        channels_last,
        on(cfg.cuda_graphs, True) and cuda,
        on(cfg.conv_select, True),
        cudnn_benchmark=cuda and big,  # a tiny network trains in less than cuDNN's search takes
    )


def resolve_device(device: str) -> torch.device:
    """``auto`` is CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class TrainingResult:
    """Outcome of :func:`train_and_evaluate`.

    ``val`` is the last epoch's validation accuracy in % (search phase) and ``test`` the final test
    accuracy in % (final phase); on failure ``error`` says why and ``failure`` names the kind
    (``"params"``, ``"nan"``, ``"timeout"``).  ``model`` is the trained network (``None`` when
    training never started).
    """

    val: float | None
    test: float | None
    params: int
    macs: int
    val_curve: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    epochs: int = 0
    seconds: float = 0.0
    final: bool = False
    device: str = "cpu"
    error: str | None = None
    failure: str | None = None
    model: nn.Module | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def metrics(self) -> dict[str, Any]:
        """JSON-able metrics recorded with the trial."""
        m: dict[str, Any] = {
            "params": self.params,
            "macs": self.macs,
            "val_curve": list(self.val_curve),
            "train_loss": list(self.train_loss),
            "epochs": self.epochs,
            "seconds": self.seconds,
            "final": self.final,
            "device": self.device,
        }
        if self.failure is not None:
            m["failure"] = self.failure
        return m

    def to_eval_result(self) -> EvalResult:
        """The Evaluator-protocol view; in the final phase ``val`` carries the test accuracy."""
        val = self.test if self.final else self.val
        return EvalResult(val, self.test, self.metrics(), self.seconds, self.error)


class _Timeout(Exception):
    pass


class _NonFinite(Exception):
    pass


def _as_tensors(x: Any, y: Any, device: torch.device) -> tuple[Tensor, Tensor]:
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.long)
    return xt.to(device), yt.to(device)


# Per-process copies of data sets on accelerators, dropped with the data set.
_DEVICE_TENSORS: weakref.WeakKeyDictionary[Dataset, dict[tuple[str, str], tuple[Tensor, Tensor]]]
_DEVICE_TENSORS = weakref.WeakKeyDictionary()


def _split_tensors(
    dataset: Dataset, split: str, device: torch.device, channels_last: bool = False
) -> tuple[Tensor, Tensor]:
    """One split (``train``, ``train+val``, ``val``, ``test``) as tensors on ``device``.

    On CPU the float32 arrays are shared without a copy; on an accelerator the copy is made once
    per process and data set (and memory format: ``channels_last`` for image batches).
    """

    def arrays() -> tuple[Any, Any]:
        if split == "train":
            return dataset.train_x, dataset.train_y
        if split == "train+val":
            return dataset.train_val()
        if split == "val":
            return dataset.val_x, dataset.val_y
        return dataset.test_x, dataset.test_y

    def tensors() -> tuple[Tensor, Tensor]:
        x, y = _as_tensors(*arrays(), device)
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    if device.type == "cpu":
        return tensors()
    per_dataset = _DEVICE_TENSORS.setdefault(dataset, {})
    key = (split, str(device) + ("/channels_last" if channels_last else ""))
    if key not in per_dataset:
        per_dataset[key] = tensors()
    return per_dataset[key]


@torch.no_grad()
def _accuracy(
    model: nn.Module, x: Tensor, y: Tensor, batch_size: int, amp: torch.dtype | None = None
) -> float:
    """Top-1 accuracy in % (under ``amp`` autocast when given)."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=y.device)
    for i in range(0, len(y), batch_size):
        with _autocast(x.device, amp):
            logits = model(x[i : i + batch_size])
        correct += (logits.argmax(dim=1) == y[i : i + batch_size]).sum()
    return 100.0 * float(correct.item()) / max(1, len(y))


def _autocast(device: torch.device, amp: torch.dtype | None) -> AbstractContextManager[Any]:
    if amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=amp, cache_enabled=False)


def _cosine_lr(base: float, epoch: int, epochs: int) -> float:
    """``CosineAnnealingLR(T_max=epochs, eta_min=0)``'s learning rate in ``epoch`` (closed form)."""
    return base * (1.0 + math.cos(math.pi * epoch / epochs)) / 2.0


def _oom_message(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    first = lines[0] if lines else ""
    return first if first.startswith("CUDA out of memory") else f"CUDA out of memory: {first}"


def train_and_evaluate(
    tree_or_text: Module | str,
    dataset: Dataset,
    config: TrainingConfig | None = None,
    seed: int = 0,
    final: bool = False,
    *,
    epochs: tuple[int, int] | None = None,
    checkpoint: str | None = None,
) -> TrainingResult:
    """Train ``tree_or_text`` on ``dataset`` with ``config`` from scratch and score it.

    Search phase (``final=False``): train on the train split, validation accuracy after every
    epoch, ``val`` = the last one.  Final phase: train on train + validation, ``test`` = test
    accuracy after the last epoch.  Returns a failed result (``error`` set) for too many
    parameters, a non-finite loss or the time limit; raises for an invalid tree.

    Multi-fidelity (``epochs=(first, last)``): train epochs ``first + 1 .. last`` of the
    ``config.epochs``-epoch protocol (the cosine schedule spans all of them), continuing from
    ``checkpoint`` when ``first > 0``, and write ``checkpoint`` after epoch ``last`` unless it
    is the protocol's last.  Training ``0 -> a`` then ``a -> b`` gives the same network as
    ``0 -> b`` on CPU.  ``val_curve`` then holds the epochs trained by this call.
    """
    cfg = config if config is not None else TrainingConfig()
    start = time.perf_counter()
    tree = parse(tree_or_text) if isinstance(tree_or_text, str) else tree_or_text
    device = resolve_device(cfg.device)
    if cfg.num_threads is not None and torch.get_num_threads() != cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)

    analysis = analyze(tree, dataset.input_shape)
    params = network_params(analysis, dataset.num_classes)
    result = TrainingResult(None, None, params, analysis.macs, final=final, device=str(device))
    if cfg.max_params is not None and params > cfg.max_params:
        result.error = f"network has {params:,} parameters, over the limit of {cfg.max_params:,}"
        result.failure = "params"
        result.seconds = time.perf_counter() - start
        return result

    torch.manual_seed(seed)
    model: nn.Module | None = compile_network(tree, dataset.input_shape, dataset.num_classes)
    assert model is not None
    # a run in steps uses the plain loop on every device (its state is what a checkpoint holds)
    plan = None if epochs is not None else gpu_plan(cfg, analysis.macs, dataset.input_shape, device)
    oom: str | None = None
    try:
        if plan is not None:
            _guard_memory(device)
            if device.type == "cuda":
                torch.backends.cudnn.benchmark = plan.cudnn_benchmark
                torch.backends.cuda.matmul.allow_tf32 = True
            if plan.conv_select:
                autoselect_convs(model)
            model = model.to(device)
            if plan.channels_last:
                model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        else:
            model = model.to(device)
        assert model is not None
        result.model = model
        gen = torch.Generator().manual_seed(seed)
        channels_last = plan is not None and plan.channels_last
        split = "train+val" if final else "train"
        train_x, train_y = _split_tensors(dataset, split, device, channels_last)
        val_x, val_y = _split_tensors(dataset, "val", device, channels_last)
        amp = plan.amp if plan is not None else None
        if plan is None:
            _train_plain(
                model,
                cfg,
                device,
                gen,
                (train_x, train_y, val_x, val_y),
                result,
                start,
                epochs=epochs,
                checkpoint=checkpoint,
            )
        else:
            _train_steps(
                model, cfg, plan, device, gen, train_x, train_y, val_x, val_y, result, start
            )
        if final:
            test_x, test_y = _split_tensors(dataset, "test", device, channels_last)
            result.test = _accuracy(model, test_x, test_y, cfg.eval_batch_size, amp)
        else:
            result.val = result.val_curve[-1]
    except _NonFinite as e:
        result.error, result.failure = str(e), "nan"
    except _Timeout as e:
        result.error, result.failure = str(e), "timeout"
    except torch.cuda.OutOfMemoryError as e:
        oom = _oom_message(e)
    if oom is not None:  # fail this trial only, and give its memory back for the next ones
        result.error, result.failure, result.model = oom, "oom", None
        model = None
        gc.collect()
        if device.type == "cuda" and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
            torch.cuda.empty_cache()
    result.seconds = time.perf_counter() - start
    return result


def _over_time(cfg: TrainingConfig, start: float) -> bool:
    return cfg.max_seconds is not None and time.perf_counter() - start > cfg.max_seconds


def _train_plain(
    model: nn.Module,
    cfg: TrainingConfig,
    device: torch.device,
    gen: torch.Generator,
    data: tuple[Tensor, Tensor, Tensor, Tensor],
    result: TrainingResult,
    start: float,
    *,
    epochs: tuple[int, int] | None = None,
    checkpoint: str | None = None,
) -> None:
    """The CPU loop: ``torch.optim.SGD`` + ``CosineAnnealingLR``, a loss check every batch.

    ``epochs=(first, last)`` trains only those epochs, resuming from / saving ``checkpoint``
    (model, optimizer, schedule and batch-order generator: an exact continuation).
    """
    train_x, train_y, val_x, val_y = data
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    loss_fn = nn.CrossEntropyLoss()
    n = len(train_y)
    bs = min(cfg.batch_size, n)
    n_batches = n // bs if cfg.drop_last else math.ceil(n / bs)
    check_each_batch = device.type == "cpu"  # free on CPU; on GPU it would sync every batch
    first, last = epochs if epochs is not None else (0, cfg.epochs)
    if not 0 <= first < last <= cfg.epochs:
        raise ValueError(f"epochs must satisfy 0 <= first < last <= {cfg.epochs}, got {epochs}")
    if first > 0:
        if checkpoint is None:
            raise ValueError(f"continuing from epoch {first} needs its checkpoint")
        # on the CPU: the generator state must stay a CPU tensor; load_state_dict moves the rest
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if int(state["epoch"]) != first:
            raise ValueError(f"checkpoint {checkpoint} holds epoch {state['epoch']}, not {first}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        result.epochs = first

    for epoch in range(first, last):
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        total = torch.zeros((), device=device)
        for b in range(n_batches):
            idx = perm[b * bs : (b + 1) * bs]
            loss = loss_fn(model(train_x[idx]), train_y[idx])
            if check_each_batch and not math.isfinite(loss.item()):
                raise _NonFinite(f"non-finite training loss in epoch {epoch + 1}, batch {b + 1}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
            if _over_time(cfg, start):
                raise _Timeout(f"over the time limit of {cfg.max_seconds} s in epoch {epoch + 1}")
        scheduler.step()
        _end_epoch(model, cfg, epoch, total, n_batches, val_x, val_y, result, start, None)
    if checkpoint is not None and last < cfg.epochs:
        _save_checkpoint(
            checkpoint,
            {
                "epoch": last,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "generator": gen.get_state(),
            },
        )


def _save_checkpoint(path: str, state: dict[str, Any]) -> None:
    """Write ``state`` atomically (a kill mid-write leaves the previous file, or none)."""
    import os

    tmp = f"{path}.{os.getpid()}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def _end_epoch(
    model: nn.Module,
    cfg: TrainingConfig,
    epoch: int,
    total: Tensor,
    n_batches: int,
    val_x: Tensor,
    val_y: Tensor,
    result: TrainingResult,
    start: float,
    amp: torch.dtype | None,
) -> None:
    mean_loss = float(total.item()) / max(1, n_batches)
    if not math.isfinite(mean_loss):
        raise _NonFinite(f"non-finite training loss in epoch {epoch + 1}")
    result.train_loss.append(mean_loss)
    result.epochs = epoch + 1
    if not result.final:
        result.val_curve.append(_accuracy(model, val_x, val_y, cfg.eval_batch_size, amp))
    hook = _epoch_hook.get()
    if hook is not None:
        hook(epoch + 1, cfg.epochs, mean_loss, None if result.final else result.val_curve[-1])
    if _over_time(cfg, start):
        raise _Timeout(f"over the time limit of {cfg.max_seconds} s after epoch {epoch + 1}")


EpochHook = Callable[[int, int, float, "float | None"], None]
"""``hook(epoch, epochs, mean_train_loss, val_accuracy_or_None)`` after every epoch."""

_epoch_hook: contextvars.ContextVar[EpochHook | None] = contextvars.ContextVar(
    "einnas_epoch_hook", default=None
)


@contextlib.contextmanager
def epoch_progress(hook: EpochHook | None) -> Iterator[None]:
    """Call ``hook`` after every training epoch run in this thread inside the block."""
    token = _epoch_hook.set(hook)
    try:
        yield
    finally:
        _epoch_hook.reset(token)


def _train_steps(
    model: nn.Module,
    cfg: TrainingConfig,
    plan: GpuPlan,
    device: torch.device,
    gen: torch.Generator,
    train_x: Tensor,
    train_y: Tensor,
    val_x: Tensor,
    val_y: Tensor,
    result: TrainingResult,
    start: float,
) -> None:
    """The GPU loop: a :class:`~einnas.nn.step.TrainStep` (CUDA graph, autocast) per batch.

    Same protocol, batch order and learning-rate schedule as :func:`_train_plain`; the loss is
    checked once per epoch (no host synchronisation inside an epoch).
    """
    n = len(train_y)
    bs = min(cfg.batch_size, n)
    n_batches = n // bs if cfg.drop_last else math.ceil(n / bs)
    step = TrainStep(
        model,
        train_x,
        train_y,
        lr=cfg.lr,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        amp=plan.amp,
        graph=plan.cuda_graphs,
    )
    try:
        for epoch in range(cfg.epochs):
            model.train()
            step.set_lr(_cosine_lr(cfg.lr, epoch, cfg.epochs))
            perm = torch.randperm(n, generator=gen).to(device, non_blocking=True)
            total = torch.zeros((), device=device)
            for b in range(n_batches):
                total += step(perm[b * bs : (b + 1) * bs])
                if _over_time(cfg, start):
                    raise _Timeout(
                        f"over the time limit of {cfg.max_seconds} s in epoch {epoch + 1}"
                    )
            _end_epoch(model, cfg, epoch, total, n_batches, val_x, val_y, result, start, plan.amp)
    finally:
        step.close()


# ----------------------------------------------------------------------------------------------
# The evaluator


@lru_cache(maxsize=4)
def cached_dataset(name: str, limit: int | None) -> Dataset:
    """Load a data set once per process (optionally its first ``limit`` examples per split)."""
    data = load_dataset(name)
    return data.subset(limit) if limit is not None else data


@dataclass(frozen=True)
class TrainingEvaluator:
    """The training evaluator of the Evaluator protocol.

    Holds only the data set's name (``mnist1d``, ``fashion-mnist`` or a folder path, made
    absolute) and the config, so it pickles small; each process loads the data set lazily, once.
    ``limit`` keeps the first ``limit`` examples of every split (smoke tests, quick searches).
    ``final=True`` evaluates in the final phase: the result's ``val`` and ``test`` are both the test
    accuracy after training on train + validation.
    """

    dataset: str
    config: TrainingConfig = field(default_factory=TrainingConfig)
    final: bool = False
    limit: int | None = None
    latency_batch: int | None = None
    """When set, also time the trained network's forward pass on batches of this size
    (:func:`einnas.latency.measure_latency`: 5 warm-up passes, median of 20) and record
    ``latency_ms`` in the trial's metrics (a ``latency`` objective reads it)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset", canonical_dataset_name(self.dataset))
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1, got {self.limit}")
        if self.latency_batch is not None and self.latency_batch < 1:
            raise ValueError(f"latency_batch must be >= 1, got {self.latency_batch}")

    @property
    def data(self) -> Dataset:
        """The data set, loaded on first use in this process."""
        return cached_dataset(self.dataset, self.limit)

    def evaluate(self, arch: str, seed: int) -> EvalResult:
        """Train ``arch`` (canonical text) with ``seed`` and return its score."""
        result = train_and_evaluate(arch, self.data, self.config, seed, final=self.final)
        out = result.to_eval_result()
        if self.latency_batch is not None and result.ok and result.model is not None:
            from einnas.latency import measure_latency

            timing = measure_latency(
                result.model, tuple(self.data.input_shape), batch_size=self.latency_batch
            )
            out.metrics.update(timing.metrics())
        return out

    needs_checkpoints = True  # multi-fidelity promotions continue from the rung's checkpoint

    @property
    def max_step(self) -> int:
        """The protocol's number of epochs (the last rung of a multi-fidelity search)."""
        return self.config.epochs

    def evaluate_steps(self, task: EvalTask) -> EvalResult:
        """Train epochs ``task.from_step + 1 .. task.to_step`` (continuing from the checkpoint).

        ``metrics["curve"]`` holds the validation accuracy after each of those epochs.
        """
        to = self.config.epochs if task.to_step is None else task.to_step
        result = train_and_evaluate(
            task.arch,
            self.data,
            self.config,
            task.seed,
            final=self.final,
            epochs=(task.from_step, to),
            checkpoint=task.checkpoint,
        )
        out = result.to_eval_result()
        curve = {str(task.from_step + i + 1): v for i, v in enumerate(result.val_curve)}
        return EvalResult(
            out.val, out.test, {**out.metrics, "curve": curve}, out.duration, out.error
        )

    def worker_started(self, workers: int) -> None:
        """Pool-worker hook: this process is one of ``workers`` sharing the training device."""
        share_device(workers)

    def describe(self) -> dict[str, Any]:
        """JSON-able description recorded in the study config."""
        return {
            "kind": "training",
            "dataset": self.dataset,
            "final": self.final,
            "limit": self.limit,
            # recorded only when on, so that the configs of earlier studies stay as they were
            **({"latency_batch": self.latency_batch} if self.latency_batch is not None else {}),
            **asdict(self.config),
        }
