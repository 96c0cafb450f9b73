"""The single binary: its size, the time from exec to the first HTTP 200, and its idle memory, beside
the venv's `edgenode` measured in the same run (the baseline; ratios are what to quote on a shared machine).

    python bench/bench_binary.py                  # builds with packaging/build into a temp folder first
    python bench/bench_binary.py --dist dist      # an existing build (packaging/build or packaging/release)

Start: exec `edgenode serve` until GET /api/v4/system/ping answers 200, median of --runs (10) for
each of: cold (a new data folder: identity, store and migrations made) and warm (a restart on that
folder). The one-file binary also unpacks itself into /tmp at each start; the one-folder build does
not. The binaries run with no Python on PATH (env -i PATH=/usr/bin:/bin). Idle RSS: the whole
process tree (the one-file binary is a small launcher plus the node), 3 s after the first 200.
Targets (issue 14): one-file <= 20 MB; first 200 within 1.0 s and within 1.3x of the venv.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]
sys.path.append(str(REPO / "tests"))

import httpx  # noqa: E402
from support.binary import BARE_ENV, build_binary  # noqa: E402
from support.server_process import free_port  # noqa: E402

SIZE_TARGET_MB = 20.0
START_TARGET_S = 1.0
RATIO_TARGET = 1.3


def _tree_rss_kb(pid: int) -> int:
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, StopIteration):
            continue
        todo.extend(int(child) for child in children)
    return total


def first_200(command: list[str], env: dict[str, str], data: Path, rss: bool = False) -> tuple[float, int]:
    """Seconds from exec to the first 200 of ping (and the idle RSS in kB if asked)."""
    port = free_port()
    args = [*command, "serve", "--data", str(data), "--port", str(port), "--sync-port", "0", "--no-mdns"]
    url = f"http://127.0.0.1:{port}/api/v4/system/ping"
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(timeout=2) as http:
            while True:
                try:
                    if http.get(url).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None:
                    raise RuntimeError(f"{args} exited with {process.returncode}")
                time.sleep(0.005)
        elapsed = time.perf_counter() - started
        kb = 0
        if rss:
            time.sleep(3)
            kb = _tree_rss_kb(process.pid)
        return elapsed, kb
    finally:
        process.terminate()
        process.wait(20)


def measure(name: str, command: list[str], env: dict[str, str], runs: int, work: Path) -> dict[str, float]:
    cold, warm = [], []
    for run in range(runs):
        data = work / f"{name}-{run}"
        cold.append(first_200(command, env, data)[0])
        warm.append(first_200(command, env, data)[0])
        shutil.rmtree(data)
    _, kb = first_200(command, env, work / f"{name}-rss", rss=True)
    return {"cold": statistics.median(cold), "warm": statistics.median(warm), "rss_mb": kb / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dist", type=Path, help="an existing build's folder (default: build one now)")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-binary-") as temp:
        work = Path(temp)
        if args.dist is None:
            made = build_binary(work / "build")
            dist = made.dist
            print(f"built in {made.seconds:.0f} s")
        else:
            dist = args.dist.resolve()
        onefile, onedir = dist / "edgenode", dist / "edgenode-onedir" / "edgenode"
        [tarball] = dist.glob("edgenode-*-linux-*.tar.gz")
        venv = Path(sys.executable).parent / "edgenode"
        venv_env = {**os.environ, "PYTHONPATH": str(REPO)}
        print(f"load before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
        size = onefile.stat().st_size / 1e6
        print(f"size: one-file {size:.1f} MB (target <= {SIZE_TARGET_MB:.0f} MB: {'met' if size <= SIZE_TARGET_MB else 'MISSED'}); "
              f"one-folder tarball {tarball.stat().st_size / 1e6:.1f} MB")
        results = {
            "venv edgenode (baseline)": measure("venv", [str(venv)], venv_env, args.runs, work),
            "one-file binary": measure("onefile", [str(onefile)], BARE_ENV, args.runs, work),
            "one-folder binary": measure("onedir", [str(onedir)], BARE_ENV, args.runs, work),
        }
        base = results["venv edgenode (baseline)"]
        print(f"exec to first HTTP 200, median of {args.runs} (target <= {START_TARGET_S} s and <= {RATIO_TARGET}x the venv):")
        for name, result in results.items():
            verdicts = []
            for kind in ("cold", "warm"):
                ratio = result[kind] / base[kind]
                ok = result[kind] <= START_TARGET_S and ratio <= RATIO_TARGET
                verdicts.append(f"{kind} {result[kind]:.2f} s ({ratio:.2f}x{'' if ok or name.startswith('venv') else ', MISSED'})")
            print(f"  {name:26} {'; '.join(verdicts)}; idle RSS {result['rss_mb']:.0f} MB")
        print(f"load after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
