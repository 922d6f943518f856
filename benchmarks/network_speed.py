"""Training throughput of the compiled ResNet-18 seed vs a hand-written PyTorch ResNet-18.

Both networks have exactly the seed's architecture (einspace.md §4.6 ``resnet18_no_maxpool``):
a 3x3 stride-1 stem conv 3->64 + BN + LeakyReLU, a stride-2 3x3 conv 64->64 in place of the
max-pool (no BN / activation after it), four stages of two post-activation basic blocks (widths
64/128/256/512, stride 2 at stages 2-4 with 1x1 conv + BN projection shortcuts), LeakyReLU
everywhere, every conv with a bias, and the paper's head (global mean + linear).  The reference is
written in torchvision's style (in-place activations and in-place residual add), so it is the
strict side of the comparison.

One training step = forward + cross-entropy + backward + SGD step (lr 0.04, momentum 0.9, weight
decay 3e-4), on a fixed random batch.  The two networks are timed side by side: a warm-up, then
``--rounds`` alternating rounds of ``--steps`` steps each (the order flips every round), and the
median throughput of each is reported, so machine noise hits both alike.

Usage::

    python benchmarks/network_speed.py --batch-size 64 --input-shape 3,28,28 --steps 2 --rounds 5

On a GPU, ``--device cuda --variants fp32,bf16-cl,bf16-cl-graph`` times each setting for both
networks through einnas's training step (:class:`einnas.nn.step.TrainStep`: bf16 autocast,
channels-last, the whole step replayed from a CUDA graph), one JSON line per variant and a
summary line last; the einnas network's convolutions run the faster of cuDNN and im2col + matmul
per layer (``--conv-select``)::

    python benchmarks/network_speed.py --device cuda --batch-size 256 --input-shape 3,32,32 \
        --steps 20 --rounds 5 --warmup 5 --variants fp32,bf16-cl,bf16-cl-graph

On a machine shared with other jobs, ``--threads 1 --clock cpu`` times the process's own CPU
time instead of elapsed time, which other jobs barely disturb.

The last line of stdout is one JSON object: ``ratio`` (einnas_ips / reference_ips),
``einnas_ips``, ``reference_ips`` (images per second), ``einnas_params``, ``reference_params``
and the settings.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from einnas.grammar import Module, analyze, network_params, parse
from einnas.nn.compile import compile_network
from einnas.nn.convselect import autoselect_convs
from einnas.nn.step import TrainStep

# ----------------------------------------------------------------------------------------------
# The seed tree (from einnas.seeds when available; otherwise built here from einspace.md §4.6)


def _conv(k: int, s: int, p: int, d: int) -> str:
    return f"routing[im2col({k},{s},{p}), computation[linear{d}], col2im]"


def _seq(a: str, b: str) -> str:
    return f"sequential[{a}, {b}]"


def _block(d: int, stride: int) -> str:
    first = _conv(3, stride, 1, d)
    main = _seq(
        _seq(_seq(first, "computation[norm]"), "computation[leakyrelu]"),
        _seq(_conv(3, 1, 1, d), "computation[norm]"),
    )
    shortcut = (
        "computation[identity]" if stride == 1 else _seq(_conv(1, 2, 0, d), "computation[norm]")
    )
    return _seq(f"branching(2)[clone(2), {main}, {shortcut}, add]", "computation[leakyrelu]")


def fallback_resnet18_text() -> str:
    """ResNet-18 "no max-pool" of einspace.md §4.6 (bare terminals wrapped as computations)."""
    stem = _seq(
        _seq(_seq(_conv(3, 1, 1, 64), "computation[norm]"), "computation[leakyrelu]"),
        _conv(3, 2, 1, 64),
    )

    def stage(d: int, stride: int) -> str:
        return _seq(_block(d, stride), _block(d, 1))

    return _seq(_seq(stem, _seq(stage(64, 1), stage(128, 2))), _seq(stage(256, 2), stage(512, 2)))


def resnet18_tree() -> tuple[Module, str]:
    """The ResNet-18 seed tree and where it came from."""
    try:
        from einnas.seeds import seed_tree
    except ImportError:
        return parse(fallback_resnet18_text()), "benchmark fallback text"
    return seed_tree("resnet18"), "einnas.seeds"


# ----------------------------------------------------------------------------------------------
# The hand-written reference


class BasicBlock(nn.Module):
    """Post-activation basic block (torchvision style, LeakyReLU, convs with bias)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act = nn.LeakyReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=True)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=True), nn.BatchNorm2d(cout)
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.act(out)  # type: ignore[no-any-return]


class ReferenceResNet18(nn.Module):
    """Hand-written ResNet-18 with exactly the seed's architecture."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=True),
            nn.BatchNorm2d(64),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(64, 64, 3, stride=2, padding=1, bias=True),  # replaces the max-pool
        )
        layers: list[nn.Module] = []
        cin = 64
        for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(cin, width, stride), BasicBlock(width, width, 1)]
            cin = width
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.layers(self.stem(x))
        return self.fc(x.mean(dim=(2, 3)))  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------------------------
# Timing


class Runner:
    """A network, its optimiser and a fixed batch; ``steps(n)`` returns the seconds taken."""

    def __init__(self, net: nn.Module, x: Tensor, y: Tensor, clock: str = "wall") -> None:
        self.net = net.train()
        self.opt = torch.optim.SGD(net.parameters(), lr=0.04, momentum=0.9, weight_decay=3e-4)
        self.x = x
        self.y = y
        self.clock = time.perf_counter if clock == "wall" else time.process_time

    def steps(self, n: int) -> float:
        clock = self.clock
        start = clock()
        for _ in range(n):
            self.opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.net(self.x), self.y)
            loss.backward()  # type: ignore[no-untyped-call]
            self.opt.step()
        return clock() - start


class StepRunner:
    """A network trained by :class:`einnas.nn.step.TrainStep` on a fixed batch (any device).

    ``amp`` (bf16 autocast), ``channels_last`` and ``graph`` (the whole step replayed from a CUDA
    graph; CUDA only) are the GPU settings of a variant; steps are timed with a device
    synchronisation before reading the clock.
    """

    def __init__(
        self,
        net: nn.Module,
        x: Tensor,
        y: Tensor,
        device: torch.device,
        amp: torch.dtype | None,
        channels_last: bool,
        graph: bool,
    ) -> None:
        net = net.to(device).train()
        if channels_last:
            net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            x = x.contiguous(memory_format=torch.channels_last)
        self.net = net
        self.device = device
        self.step = TrainStep(
            net,
            x.to(device),
            y.to(device),
            lr=0.04,
            momentum=0.9,
            weight_decay=3e-4,
            amp=amp,
            graph=graph,
        )
        self.idx = torch.arange(len(y), device=device)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def steps(self, n: int) -> float:
        self.sync()
        start = time.perf_counter()
        for _ in range(n):
            self.step(self.idx)
        self.sync()
        return time.perf_counter() - start


VARIANTS = {
    # name: (amp, channels_last, cuda graph)
    "fp32": (None, False, False),
    "bf16": (torch.bfloat16, False, False),
    "bf16-cl": (torch.bfloat16, True, False),
    "fp32-graph": (None, False, True),
    "bf16-cl-graph": (torch.bfloat16, True, True),
}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--input-shape", default="3,28,28", help="C,H,W (default 3,28,28)")
    ap.add_argument("--num-classes", type=int, default=10)
    ap.add_argument("--steps", type=int, default=2, help="training steps per timed round")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds per network")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps per network first")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: elapsed time (default); cpu: this process's CPU time, which is robust on "
        "a machine shared with other jobs (use with --threads 1)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--device",
        default=None,
        help="train on this device with einnas's training step (cpu, cuda, cuda:1); "
        "default: the plain CPU loop of torch.optim.SGD",
    )
    ap.add_argument(
        "--variants",
        default="fp32",
        help="with --device: comma-separated settings, each timed for both networks and "
        f"printed as one JSON line: {', '.join(VARIANTS)} (default fp32)",
    )
    ap.add_argument(
        "--conv-select",
        choices=("off", "auto", "cudnn", "im2col"),
        default="auto",
        help="with --device: the einnas network's convolutions (auto: per layer the faster of "
        "cuDNN and im2col + matmul, timed on first use; default auto)",
    )
    args = ap.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    shape = tuple(int(d) for d in args.input_shape.replace("x", ",").split(","))
    if len(shape) != 3:
        ap.error("--input-shape must be C,H,W")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variants {unknown}: choose from {', '.join(VARIANTS)}")
    if args.device is None:
        variants = ["cpu-plain"]

    tree, source = resnet18_tree()
    analysis = analyze(tree, shape)
    expected = network_params(analysis, args.num_classes)
    print(f"tree from {source}; analysed params {expected:,}")
    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.batch_size, *shape, generator=gen)
    y = torch.randint(0, args.num_classes, (args.batch_size,), generator=gen)

    summary: dict[str, object] = {}
    result: dict[str, object] = {}
    for variant in variants:
        torch.manual_seed(args.seed)
        ours = compile_network(tree, shape, args.num_classes)
        torch.manual_seed(args.seed)
        ref = ReferenceResNet18(shape[0], args.num_classes)
        ours_params = sum(p.numel() for p in ours.parameters())
        ref_params = sum(p.numel() for p in ref.parameters())
        if not ours_params == ref_params == expected:
            raise SystemExit(
                "parameter counts disagree: the two networks are not the same architecture"
            )
        runners: dict[str, Runner | StepRunner]
        if args.device is None:
            runners = {
                "einnas": Runner(ours, x, y, args.clock),
                "reference": Runner(ref, x, y, args.clock),
            }
        else:
            device = torch.device(args.device)
            if device.type == "cuda":
                torch.backends.cudnn.benchmark = True
                torch.backends.cuda.matmul.allow_tf32 = True
            if args.conv_select != "off":
                autoselect_convs(ours, None if args.conv_select == "auto" else args.conv_select)
            amp, channels_last, graph = VARIANTS[variant]
            runners = {
                "einnas": StepRunner(ours, x, y, device, amp, channels_last, graph),
                "reference": StepRunner(ref, x, y, device, amp, channels_last, graph),
            }
        for r in runners.values():
            r.steps(args.warmup)

        ips: dict[str, list[float]] = {name: [] for name in runners}
        order = list(runners)
        for i in range(args.rounds):
            for name in order if i % 2 == 0 else reversed(order):
                seconds = runners[name].steps(args.steps)
                ips[name].append(args.steps * args.batch_size / seconds)
            print(
                f"{variant} round {i + 1}/{args.rounds}: "
                + "  ".join(f"{n} {ips[n][-1]:8.1f} img/s" for n in order),
                flush=True,
            )

        ours_ips = statistics.median(ips["einnas"])
        ref_ips = statistics.median(ips["reference"])
        result = {
            "measure": "resnet18_train_throughput",
            "variant": variant,
            "ratio": round(ours_ips / ref_ips, 4),
            "einnas_ips": round(ours_ips, 2),
            "reference_ips": round(ref_ips, 2),
            "einnas_params": ours_params,
            "reference_params": ref_params,
            "batch_size": args.batch_size,
            "input_shape": list(shape),
            "steps": args.steps,
            "rounds": args.rounds,
            "threads": torch.get_num_threads(),
            "clock": args.clock if args.device is None else "wall+sync",
            "device": args.device or "cpu",
            "conv_select": args.conv_select if args.device is not None else "off",
            "torch": torch.__version__,
            "machine": platform.machine(),
        }
        graph_errors = [
            r.step.graph_error
            for r in runners.values()
            if isinstance(r, StepRunner) and r.step.graph_error
        ]
        if graph_errors:
            result["graph_errors"] = graph_errors
        if args.device is not None and torch.device(args.device).type == "cuda":
            result["gpu"] = torch.cuda.get_device_name(torch.device(args.device))
        summary[variant] = {k: result[k] for k in ("einnas_ips", "reference_ips", "ratio")}
        if len(variants) > 1:
            print(json.dumps(result), flush=True)
        del runners, ours, ref
    if len(variants) > 1:
        result = {"measure": "resnet18_summary", "batch_size": args.batch_size, **summary}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
