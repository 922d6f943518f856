"""The GPU figures of docs/benchmarks.md in one run (driver of ``benchmarks/gpu_check.sh``).

Steps, most important first, each a subprocess with its own time limit (its whole process group
is killed when it overruns, so one hang cannot eat the budget):

1. ``env``: torch, CUDA, GPU name; MNIST-1D read from the cache (``$EINNAS_CACHE_DIR``) without
   the ``mnist1d`` package.
2. ``default_job``: ``einnas search`` (the default job: Delta-NAS on einspace1d / MNIST-1D, 30
   candidates x 8 epochs, then the final training) on the device with several ``--workers``,
   each timed around the CLI call with a fresh storage file.
3. ``resnet18``: ``benchmarks/network_speed.py`` — the compiled ResNet-18 seed vs the hand-written
   one at batch 256, 3x32x32: fp32, bf16 + channels-last, bf16 + channels-last + CUDA graph.
4. ``throughput``: ``benchmarks/training_throughput.py`` — networks per minute with 1, 2, 4, 8
   workers on one GPU (the default job's candidates).
5. ``cuda_tests``: ``pytest tests/cuda`` (the CUDA tests; they skip without a GPU).
6. ``graphs_ab``: for information, 8 candidates on 1 worker with and without CUDA graphs.
7. ``resnet18_b1024``: for information, if time is left, the ResNet-18s at batch 1024.

Every measurement is printed as one JSON line (and appended to ``$OUT/gpu_check.jsonl`` when
``$OUT`` is set); the last line is a summary.  ``--dry-run`` runs every step on the CPU in tiny
sizes (a check of the script, not a measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CPU_DEFAULT_JOB_SECONDS = 66.0  # the default job on 2 idle CPU cores (docs/benchmarks.md)
TARGET_SPEEDUP = 10.0
TARGET_RESNET_IPS = 2 * 28_100.0
PY = sys.executable

_log: Path | None = None


def emit(record: dict[str, Any]) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    if _log is not None:
        with _log.open("a", encoding="utf-8") as f:
            f.write(line + "\n")


_deadline = float("inf")


def run(cmd: list[str], timeout: float, env: dict[str, str]) -> tuple[int, str, float]:
    """Run ``cmd`` in its own process group; (exit code, output, seconds); 124 on timeout.

    The limit is also cut to what is left before the run's overall deadline."""
    start = time.perf_counter()
    timeout = min(timeout, _deadline - start)
    if timeout < 5:
        return 125, "skipped: the run's overall time budget is spent", 0.0
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        rc = 124
    return rc, out or "", time.perf_counter() - start


def last_json(out: str, measure: str | None = None) -> dict[str, Any] | None:
    for line in reversed(out.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if measure is None or obj.get("measure") == measure:
                return dict(obj)
    return None


def tail(out: str, n: int = 15) -> str:
    return "\n".join(out.strip().splitlines()[-n:])


def main() -> int:
    global _log, _deadline
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dry-run", action="store_true", help="every step on CPU, tiny sizes")
    ap.add_argument("--device", default=None, help="default cuda (cpu with --dry-run)")
    ap.add_argument("--job-workers", default=None, help="default job --workers (default 8,2,1)")
    ap.add_argument("--skip", default="", help="comma-separated steps to skip")
    ap.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds for all steps together (default 280; 1200 with --dry-run)",
    )
    args = ap.parse_args()
    dry = args.dry_run
    device = args.device or ("cpu" if dry else "cuda")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if os.environ.get("OUT"):
        Path(os.environ["OUT"]).mkdir(parents=True, exist_ok=True)
        _log = Path(os.environ["OUT"]) / "gpu_check.jsonl"

    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env["PYTHONUNBUFFERED"] = "1"
    carried = ROOT / ".gpu_carry" / "cache"
    if not env.get("EINNAS_CACHE_DIR") and carried.is_dir():
        env["EINNAS_CACHE_DIR"] = str(carried)
    env.setdefault("MPLBACKEND", "Agg")
    tmp = Path(tempfile.mkdtemp(prefix="einnas_gpu_check_"))
    summary: dict[str, Any] = {"measure": "summary", "device": device, "dry_run": dry}
    t0 = time.perf_counter()
    _deadline = t0 + (args.budget or (1200.0 if dry else 280.0))

    # 1. environment and data ------------------------------------------------------------------
    probe = (
        "import time; t0 = time.perf_counter(); import json, importlib.util, torch; "
        "import einnas.cli; t1 = time.perf_counter(); from einnas.data import load_mnist1d; "
        "d = load_mnist1d(); cuda = torch.cuda.is_available(); t2 = time.perf_counter(); "
        "cuda and torch.zeros(1, device='cuda').sum().item(); t3 = time.perf_counter(); "
        "print(json.dumps({'measure': 'env', 'torch': torch.__version__, 'cuda': cuda, "
        "'gpu': torch.cuda.get_device_name(0) if cuda else None, "
        "'mnist1d_package': importlib.util.find_spec('mnist1d') is not None, "
        "'mnist1d_sizes': list(d.sizes), 'import_seconds': round(t1 - t0, 2), "
        "'cuda_init_seconds': round(t3 - t2, 2), 'cpus': __import__('os').cpu_count()}))"
    )
    rc, out, secs = run([PY, "-c", probe], 120, env)
    rec = last_json(out, "env") or {"measure": "env", "error": tail(out)}
    rec.update(rc=rc, seconds=round(secs, 2), cache_dir=env.get("EINNAS_CACHE_DIR"))
    emit(rec)
    summary["gpu"] = rec.get("gpu")
    if rc != 0:
        summary["error"] = "environment check failed"
        emit(summary)
        return 1

    # 2. the default job -------------------------------------------------------------------------
    job_seconds: dict[str, float] = {}
    if "default_job" not in skip:
        workers_list = (args.job_workers or ("2" if dry else "8,2,1")).split(",")
        for w in workers_list:
            w = w.strip()
            db = tmp / f"job_w{w}.db"
            cmd = [PY, "-m", "einnas", "search", "--device", device, "--workers", w]
            cmd += ["--storage", str(db), "--out", str(tmp / f"run_w{w}"), "--no-progress"]
            if dry:
                cmd += ["--budget", "3", "--epochs", "1", "--final-epochs", "1"]
            rc, out, secs = run(cmd, 200 if dry else 100, env)
            rec = {"measure": "default_job", "device": device, "workers": int(w), "rc": rc}
            rec["seconds"] = round(secs, 2)
            m = re.search(r"validation accuracy: (\S+)", out)
            rec["best_val"] = m.group(1) if m else None
            m = re.search(r"final test accuracy \((\d+) epochs[^:]*: (\S+)", out)
            rec["final_test"] = m.group(2) if m else None
            m = re.search(r"study (\S+): (\d+) trials", out)
            rec["trials"] = int(m.group(2)) if m else None
            if m:  # how many trials failed
                q = [PY, "-m", "einnas", "trials", "--storage", str(db), "--study", m.group(1)]
                _, qout, _ = run([*q, "--json"], 40, env)
                rows = None
                for line in qout.splitlines():
                    if line.startswith("["):
                        try:
                            rows = json.loads(line)
                        except json.JSONDecodeError:
                            rows = None
                if rows is not None:
                    bad = [r for r in rows if r.get("state") != "complete" or r.get("val") is None]
                    rec["failed_trials"] = len(bad)
            if rc != 0:
                rec["output_tail"] = tail(out)
            else:
                job_seconds[w] = secs
            if not dry:
                rec["cpu_seconds"] = CPU_DEFAULT_JOB_SECONDS
                rec["speedup_vs_cpu"] = round(CPU_DEFAULT_JOB_SECONDS / secs, 2)
            emit(rec)
    if job_seconds:
        best_w = min(job_seconds, key=lambda k: job_seconds[k])
        best = job_seconds[best_w]
        summary["default_job_seconds"] = {k: round(v, 2) for k, v in job_seconds.items()}
        summary["default_job_best"] = {"workers": int(best_w), "seconds": round(best, 2)}
        if not dry:
            summary["default_job_speedup_vs_cpu"] = round(CPU_DEFAULT_JOB_SECONDS / best, 2)
            summary["target_a_met"] = CPU_DEFAULT_JOB_SECONDS / best >= TARGET_SPEEDUP

    # 3. ResNet-18 training throughput -------------------------------------------------------------
    if "resnet18" not in skip:
        cmd = [PY, "benchmarks/network_speed.py", "--device", device]
        cmd += ["--variants", "fp32,bf16-cl,bf16-cl-graph"]
        if dry:
            cmd += ["--batch-size", "4", "--input-shape", "3,16,16", "--steps", "1"]
            cmd += ["--rounds", "1", "--warmup", "4"]
        else:
            cmd += ["--batch-size", "256", "--input-shape", "3,32,32", "--steps", "20"]
            cmd += ["--rounds", "5", "--warmup", "5"]
        rc, out, secs = run(cmd, 300 if dry else 150, env)
        found = False
        for line in out.splitlines():
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if obj.get("measure") == "resnet18_train_throughput":
                    emit(obj)
                    found = True
        res = last_json(out, "resnet18_summary")
        if rc != 0 or not found:
            emit({"measure": "resnet18", "rc": rc, "output_tail": tail(out, 25)})
        if res is not None:
            res.pop("measure", None)
            summary["resnet18"] = res
            if not dry:
                fast = res.get("bf16-cl-graph") or {}
                bf16 = max(
                    (res.get(v) or {}).get("einnas_ips", 0.0) for v in ("bf16-cl", "bf16-cl-graph")
                )
                summary["target_b_met"] = bool(
                    bf16 >= TARGET_RESNET_IPS and fast.get("ratio", 0.0) >= 1.0
                )

    # 4. concurrent trainings -------------------------------------------------------------------------
    if "throughput" not in skip:
        cmd = [PY, "benchmarks/training_throughput.py", "--device", device, "--executor", "pool"]
        if dry:
            cmd += ["--networks", "2", "--epochs", "1", "--workers", "1,2", "--limit", "300"]
            cmd += ["--step-loop"]
        else:
            cmd += ["--networks", "16", "--epochs", "8", "--workers", "1,2,4,8"]
        rc, out, secs = run(cmd, 300 if dry else 170, env)
        res = last_json(out, "training_throughput")
        if res is None:
            emit({"measure": "training_throughput", "rc": rc, "output_tail": tail(out, 25)})
        else:
            res["rc"] = rc
            emit(res)
            summary["networks_per_min"] = {
                w: row["networks_per_min"] for w, row in res["results"].items()
            }

    # 5. the CUDA tests -------------------------------------------------------------------------------
    if "cuda_tests" not in skip:
        cmd = [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/cuda"]
        rc, out, secs = run(cmd, 300 if dry else 120, env)
        m = re.search(r"(\d+) passed", out)
        s = re.search(r"(\d+) skipped", out)
        f = re.search(r"(\d+) failed", out)
        rec = {
            "measure": "cuda_tests",
            "rc": rc,
            "passed": int(m.group(1)) if m else 0,
            "skipped": int(s.group(1)) if s else 0,
            "failed": int(f.group(1)) if f else 0,
            "seconds": round(secs, 2),
        }
        if rc != 0:
            rec["output_tail"] = tail(out, 30)
        emit(rec)
        summary["cuda_tests"] = {k: rec[k] for k in ("rc", "passed", "skipped", "failed")}

    # 6. (information, if time is left) do CUDA graphs pay for the search's tiny networks? ---------
    if "graphs_ab" not in skip:
        ab: dict[str, Any] = {"measure": "cuda_graphs_ab", "device": device}
        for label, extra in (("graphs", []), ("eager", ["--no-cuda-graphs"])):
            cmd = [PY, "benchmarks/training_throughput.py", "--device", device]
            cmd += ["--executor", "pool", "--workers", "1", *extra]
            if dry:
                cmd += ["--networks", "1", "--epochs", "1", "--limit", "300", "--step-loop"]
            else:
                cmd += ["--networks", "8", "--epochs", "8"]
            rc, out, secs = run(cmd, 300 if dry else 60, env)
            res = last_json(out, "training_throughput")
            if res is None:
                ab[label] = {"rc": rc, "output_tail": tail(out, 10)}
            else:
                row = res["results"]["1"]
                ab[label] = {k: row[k] for k in ("seconds", "train_seconds", "failed")}
        emit(ab)
        summary["cuda_graphs_ab"] = {k: v for k, v in ab.items() if k not in ("measure", "device")}

    # 7. (information, if time is left) ResNet-18 at batch 1024 --------------------------------------
    if "resnet18_b1024" not in skip and not dry:
        cmd = [PY, "benchmarks/network_speed.py", "--device", device]
        cmd += ["--variants", "bf16-cl,bf16-cl-graph", "--batch-size", "1024"]
        cmd += ["--input-shape", "3,32,32", "--steps", "5", "--rounds", "3", "--warmup", "4"]
        rc, out, secs = run(cmd, 90, env)
        res = last_json(out, "resnet18_summary")
        if res is None:
            emit({"measure": "resnet18_b1024", "rc": rc, "output_tail": tail(out, 10)})
        else:
            res["measure"] = "resnet18_b1024"
            emit(res)
            summary["resnet18_b1024"] = {k: v for k, v in res.items() if k != "measure"}

    summary["seconds"] = round(time.perf_counter() - t0, 1)
    emit(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
