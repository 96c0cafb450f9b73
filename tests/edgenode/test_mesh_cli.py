"""`edgenode mesh`, run as users run it: init on the admin node, invite, join on another node with
one one-way transfer, show, revoke; and one-line errors for every way a join can go wrong."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgenode.config import DATA_ENV

EDGENODE = [sys.executable, "-m", "edgenode"]
MESH_ID = re.compile(r"[a-z2-7]{26}")


def _env(home: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k != DATA_ENV}
    environ["XDG_DATA_HOME"] = str(home / "xdg")
    environ["HOME"] = str(home)
    return environ


@dataclass(frozen=True)
class Mesh:
    """Two nodes enrolled through the CLI once for the whole module: subprocesses are the slow part."""

    root: Path
    admin: Path
    member: Path
    env: dict[str, str]
    mesh_id: str
    outputs: dict[str, subprocess.CompletedProcess[str]]

    def run(self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return _run(list(args), env or self.env, stdin)


def _run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EDGENODE, *args], env=env, input=stdin, capture_output=True, text=True, timeout=30,
                          check=False)


def _show(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in done.stdout.splitlines())


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    root = tmp_path_factory.mktemp("mesh-cli")
    admin, member = root / "admin", root / "member"
    env = _env(root / "home")
    outputs = {
        "init": _run(["mesh", "init", "--data", str(admin), "--name", "Field team"], env),
        "invite": _run(["mesh", "invite", "--data", str(admin), "--out", str(root / "invite.token")], env),
        "join": _run(["mesh", "join", "--data", str(member), f"@{root / 'invite.token'}"], env),
    }
    for name, done in outputs.items():
        assert (name, done.returncode) == (name, 0), done.stderr
    mesh_id = outputs["init"].stdout.removeprefix("mesh: ").strip()
    return Mesh(root, admin, member, env, mesh_id, outputs)


def test_init_invite_join_enrol_a_second_node_in_the_same_mesh_and_show_says_so_on_both(mesh: Mesh) -> None:
    assert MESH_ID.fullmatch(mesh.mesh_id)
    assert mesh.outputs["join"].stdout == f"mesh: {mesh.mesh_id}\n"
    token_file = mesh.root / "invite.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert mesh.outputs["invite"].stdout == ""
    assert mesh.outputs["invite"].stderr.startswith("invite for node ")

    admin = mesh.run("mesh", "show", "--data", str(mesh.admin))
    member = mesh.run("mesh", "show", "--data", str(mesh.member))
    assert (admin.returncode, admin.stderr, member.returncode, member.stderr) == (0, "", 0, "")
    admin_rows, member_rows = _show(admin), _show(member)
    assert list(admin_rows) == ["mesh", "name", "node", "key", "role", "roles", "authority", "certificate", "revoked"]
    assert (admin_rows["roles"], member_rows["roles"]) == ("none", "none")
    assert (admin_rows["mesh"], admin_rows["name"], admin_rows["role"]) == (mesh.mesh_id, "Field team", "authority")
    assert (member_rows["mesh"], member_rows["name"], member_rows["role"]) == (mesh.mesh_id, "Field team", "member")
    assert member_rows["authority"] == admin_rows["authority"] == admin_rows["node"]
    assert member_rows["node"] != admin_rows["node"]
    assert mesh.outputs["invite"].stderr.startswith(f"invite for node {member_rows['node']}: wrote it to {token_file}.")
    assert (admin_rows["revoked"], member_rows["revoked"]) == ("none", "none")


def test_invite_prints_the_token_as_one_line_and_honours_edgenode_data(mesh: Mesh) -> None:
    done = mesh.run("mesh", "invite", env={**mesh.env, DATA_ENV: str(mesh.admin)})
    assert done.returncode == 0
    assert re.fullmatch(r"edgenode-invite:[A-Za-z0-9_-]+\n", done.stdout)
    assert "It is a secret: whoever holds it joins as that node." in done.stderr


def test_a_truncated_token_is_refused_with_one_line_and_exit_1(mesh: Mesh) -> None:
    token = (mesh.root / "invite.token").read_text().strip()
    done = mesh.run("mesh", "join", "--data", str(mesh.root / "truncated"), "-", stdin=token[:400])  # - reads stdin
    assert (done.returncode, done.stdout) == (1, "")
    assert re.fullmatch(r"Error: the invite token is incomplete \(288 of \d+ bytes\): copy the whole line\n", done.stderr)
    assert not (mesh.root / "truncated" / "mesh").exists()


def test_something_that_is_not_a_token_is_refused_with_one_line_and_exit_1(mesh: Mesh) -> None:
    done = mesh.run("mesh", "join", "--data", str(mesh.root / "bad"), "hello")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "Error: this is not an edgenode invite token (a token starts with 'edgenode-invite:')\n"


def test_joining_a_second_time_is_refused(mesh: Mesh) -> None:
    done = mesh.run("mesh", "join", "--data", str(mesh.member), f"@{mesh.root / 'invite.token'}")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"Error: this node already belongs to mesh 'Field team' ({mesh.mesh_id}); a node joins one mesh, once: "
        "use a new data folder for another\n"
    )


def test_invite_on_a_node_that_is_not_the_authority_is_refused(mesh: Mesh) -> None:
    done = mesh.run("mesh", "invite", "--data", str(mesh.member))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(f"Error: this node does not hold the authority of mesh 'Field team' ({mesh.mesh_id}): ")
    assert done.stderr.count("\n") == 1


def test_revoke_on_the_authority_then_show_lists_the_revoked_node(mesh: Mesh) -> None:
    # an invited node that never synced is known to the authority from its invites log
    invited = mesh.run("mesh", "invite", "--data", str(mesh.admin))
    node = re.match(r"invite for node ([a-z2-7]{26}):", invited.stderr).group(1)  # type: ignore[union-attr]

    done = mesh.run("mesh", "revoke", "--data", str(mesh.admin), node, "--reason", "token leaked")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (f"revoked node {node}: its 0 ops held here stay valid, any later ones are refused; "
                           "the revocation spreads as this node syncs\n")
    assert _show(mesh.run("mesh", "show", "--data", str(mesh.admin)))["revoked"] == node


def test_invite_hub_enrols_a_node_whose_certificate_and_show_say_it_is_a_hub(mesh: Mesh) -> None:
    token_file = mesh.root / "hub.token"
    invited = mesh.run("mesh", "invite", "--hub", "--data", str(mesh.admin), "--out", str(token_file))
    assert invited.returncode == 0, invited.stderr
    assert invited.stderr.startswith("invite for hub node ")
    joined = mesh.run("mesh", "join", "--data", str(mesh.root / "hub"), f"@{token_file}")
    assert joined.returncode == 0, joined.stderr

    shown = _show(mesh.run("mesh", "show", "--data", str(mesh.root / "hub")))
    assert (shown["mesh"], shown["role"], shown["roles"]) == (mesh.mesh_id, "member", "hub")
    logged = (mesh.admin / "mesh" / "invites.log").read_text().splitlines()
    assert [json.loads(line)["roles"] for line in logged if json.loads(line)["node"] == shown["node"]] == [["hub"]]
