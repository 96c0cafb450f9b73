"""A node that writes posts forever and prints each acknowledged write; killed with SIGKILL by tests.

Usage: python writer_process.py DATA_DIR

Prints `ready` once the team and channels exist, then one line per acknowledged post:
`ack <post id> <scope> <seq> <signature hex>`, written and flushed only after `Store.write`
returned, i.e. after the write is durable by the store's contract. Writes come in rounds: a burst
of concurrent writers (asyncio.gather, so several requests share one commit), a write of two posts
at once (all or nothing), and a single write.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from builders import CHANNEL, TEAM, post, team_and_channel  # run as a script: tests/support is sys.path[0]

from crdt import Create
from edgenode.config import STORE_FILE
from edgenode.identity import load_or_create_identity
from edgenode.schema import SCHEMA
from edgenode.store import Store
from sync import SignedOp

SECOND_CHANNEL = "d" * 26
SCOPES = (f"channel:{CHANNEL}", f"channel:{SECOND_CHANNEL}")
CHANNEL_OF_SCOPE = {SCOPES[0]: CHANNEL, SCOPES[1]: SECOND_CHANNEL}
BURST = 8


def directory_ops() -> list[Create]:
    return [
        *team_and_channel(),
        Create("channel", SECOND_CHANNEL, {"team_id": TEAM, "type": "O", "name": "random"}, deps=[("team", TEAM)]),
    ]


def _ack(post_ids: list[str], sealed: list[SignedOp]) -> None:
    for post_id, op in zip(post_ids, sealed, strict=True):
        sys.stdout.write(f"ack {post_id} {op.feed.scope} {op.seq} {op.signature.hex()}\n")
    sys.stdout.flush()


async def _write(store: Store, scope: str, post_ids: list[str]) -> None:
    channel = CHANNEL_OF_SCOPE[scope]
    sealed = await store.write(scope, [post(pid, f"message {pid}", channel=channel) for pid in post_ids])
    _ack(post_ids, sealed)


async def main(data_dir: Path) -> None:
    signer = load_or_create_identity(data_dir)
    async with Store(data_dir / STORE_FILE, SCHEMA, signer) as store:
        await store.write("directory", directory_ops())
        print("ready", flush=True)
        round_ = 0
        while True:
            burst = [
                _write(store, SCOPES[i % 2], [f"b{round_:09d}x{i:015d}"]) for i in range(BURST)
            ]
            await asyncio.gather(*burst)
            await _write(store, SCOPES[round_ % 2], [f"m{round_:09d}x{0:015d}", f"m{round_:09d}x{1:015d}"])
            await _write(store, SCOPES[(round_ + 1) % 2], [f"s{round_:09d}x{0:015d}"])
            round_ += 1


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
