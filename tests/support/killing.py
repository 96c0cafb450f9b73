"""Run tests/support/writer_process.py, collect its acknowledgements, and SIGKILL it mid-stream."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

WRITER_SCRIPT = Path(__file__).resolve().parent / "writer_process.py"


@dataclass(frozen=True, slots=True)
class Ack:
    """One post the writer process was told is durable: where its op sits and its signature."""

    post_id: str
    scope: str
    seq: int
    signature: bytes


def parse_ack(line: str) -> Ack:
    word, post_id, scope, seq, signature = line.split()
    assert word == "ack", line
    return Ack(post_id, scope, int(seq), bytes.fromhex(signature))


def write_until_killed(data_dir: Path, kill_after: int, timeout_s: float = 10.0) -> list[Ack]:
    """Start a writer on `data_dir`, SIGKILL it once `kill_after` acks arrived; return every ack it printed.

    Lines the writer flushed before it died but the parent had not read yet count too: the writer
    printed them after the store acknowledged the write, so they are promises all the same.
    """
    proc = subprocess.Popen(
        [sys.executable, str(WRITER_SCRIPT), str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    received: list[str] = []
    deadline = time.monotonic() + timeout_s
    try:
        acks = 0
        while acks < kill_after:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the writer acknowledged only {acks} writes in {timeout_s} s") from None
            if line is None:
                assert proc.stderr is not None
                raise AssertionError(f"the writer exited early ({proc.wait()}): {proc.stderr.read()}")
            received.append(line)
            acks += line.startswith("ack ")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=timeout_s) == -signal.SIGKILL
        reader.join(timeout=timeout_s)
        while (line := lines.get_nowait()) is not None:
            received.append(line)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert received and received[0] == "ready\n", received[:1]
    # only complete lines: a line cut short by the kill was never fully printed
    return [parse_ack(line) for line in received[1:] if line.endswith("\n")]
