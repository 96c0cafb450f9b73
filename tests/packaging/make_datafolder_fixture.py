"""Makes tests/packaging/fixtures/datafolder.tar.gz: a small data folder written by a given edgenode.

The upgrade tests open it with the current code, as a newer binary opens an operator's folder. Make
it again from the release (or commit) whose folders the current code must open, e.g. the last one:

    git worktree add --detach /tmp/edgenode-old v0.1.0
    .venv/bin/python tests/packaging/make_datafolder_fixture.py --source /tmp/edgenode-old

It runs `edgenode` from SOURCE (default: this checkout) as an operator would: mesh init, serve, the
first user (admin), a team, a channel and a post through the API; then stops the node and packs
the folder (without its lock and logs) with a MANIFEST naming the commit that wrote it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parent))  # tests/support

from support.server_process import edgenode_server  # noqa: E402

FIXTURE = HERE / "fixtures" / "datafolder.tar.gz"
MESSAGE = "written before the upgrade"
LEFT_OUT = {"serve.lock", "sync-status.json", "edgenode.db-wal", "edgenode.db-shm"}  # a clean stop leaves the WAL empty


def _edgenode(source: Path) -> tuple[str, ...]:
    # -c, not -m: -m would import the edgenode of the working directory, not SOURCE's
    return (sys.executable, "-c", f"import sys; sys.path.insert(0, {str(source)!r}); "
                                  "from edgenode.cli import main; main()")


def make(source: Path, out: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as temp:
        data = Path(temp) / "node"
        command = _edgenode(source)
        env = {**os.environ, "PYTHONPATH": str(source)}
        subprocess.run([*command, "mesh", "init", "--data", str(data), "--name", "fixture"], env=env, check=True,
                       capture_output=True)
        with edgenode_server(data, command=command, env=env) as server, server.client(server.admin_token) as http:
            team = http.post("/api/v4/teams", json={"name": "before", "display_name": "Before", "type": "O"}).json()
            channel = http.post("/api/v4/channels", json={"team_id": team["id"], "name": "upgrade",
                                                           "display_name": "Upgrade", "type": "O"}).json()
            post = http.post("/api/v4/posts", json={"channel_id": channel["id"], "message": MESSAGE}).json()
        with sqlite3.connect(data / "edgenode.db") as db:
            migrations = [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY name")]
        commit = subprocess.run(["git", "-C", str(source), "describe", "--always", "--dirty", "--abbrev=12"],
                                capture_output=True, text=True, check=False).stdout.strip() or "unknown"
        manifest = {"commit": commit, "post_id": post["id"], "channel_id": channel["id"], "message": MESSAGE,
                    "admin": server.admin["username"], "migrations": migrations}
        out.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(out, "w:gz") as tar:
            for path in sorted(data.rglob("*")):
                if path.name not in LEFT_OUT and not path.name.endswith(".log"):
                    tar.add(path, arcname=str(path.relative_to(data.parent)), recursive=False)
            blob = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo("MANIFEST.json")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=HERE.parents[1], help="the checkout whose edgenode writes it")
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args()
    manifest = make(args.source.resolve(), args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) from commit {manifest['commit']}")


if __name__ == "__main__":
    main()
