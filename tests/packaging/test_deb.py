"""The .deb: built offline by packaging/build-deb, installed into a throwaway root with dpkg --root
(its maintainer scripts honour DPKG_ROOT), its unit checked by systemd-analyze; removing it keeps the data."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support.binary import BARE_ENV

ROOT = Path(__file__).resolve().parents[2]
UNIT = "/usr/lib/systemd/system/edgenode.service"

needs_dpkg = pytest.mark.skipif(not (shutil.which("dpkg-deb") and shutil.which("systemd-analyze")),
                                reason="dpkg-deb and systemd-analyze (scripts/test installs them as root)")


def _deb(release: Path) -> Path:
    [deb] = release.glob("edgenode_*.deb")  # packaging/release ran packaging/build-deb
    return deb


def _throwaway_root(root: Path) -> None:
    """The least a root needs for dpkg (its database) and useradd (the account files); and systemd's
    targets, which the unit's default dependencies name, for systemd-analyze."""
    for folder in ("etc", "var/lib/dpkg/info", "var/lib/dpkg/updates", "usr/lib/systemd/system"):
        (root / folder).mkdir(parents=True)
    for name, text in {"var/lib/dpkg/status": "", "var/lib/dpkg/available": "",
                       "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\n",
                       "etc/shadow": "root:*:19000:0:99999:7:::\n", "etc/gshadow": "root:*::\n"}.items():
        (root / name).write_text(text)
    for target in Path("/usr/lib/systemd/system").glob("*.target"):
        shutil.copy(target, root / "usr/lib/systemd/system" / target.name)


def _dpkg(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # chrootless: the scripts run here with DPKG_ROOT set; depends: the throwaway root has no libc6 package
    done = subprocess.run(["dpkg", f"--root={root}", "--force-script-chrootless", "--force-not-root",
                           "--force-depends", *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.slow
@needs_dpkg
def test_the_deb_installs_a_sandboxed_service_and_its_removal_keeps_the_data(release: Path, tmp_path: Path) -> None:
    deb = _deb(release)
    info = subprocess.run(["dpkg-deb", "--field", str(deb), "Package", "Version", "Depends"], capture_output=True,
                          text=True, check=True).stdout
    assert "Package: edgenode" in info and "libc6 (>= 2.36)" in info
    root = tmp_path / "root"
    _throwaway_root(root)
    _dpkg(root, "--install", str(deb))

    installed = root / "usr/bin/edgenode"
    assert subprocess.run([str(installed), "--version"], env=BARE_ENV, capture_output=True, text=True,
                          check=True).stdout.startswith("edgenode ")
    account = next(line for line in (root / "etc/passwd").read_text().splitlines() if line.startswith("edgenode:"))
    _, _, uid, gid, _, home, shell = account.split(":")
    assert int(uid) < 1000 and home == "/var/lib/edgenode" and shell == "/usr/sbin/nologin"  # a system account
    data = root / "var/lib/edgenode"
    assert (data.stat().st_uid, data.stat().st_gid, oct(data.stat().st_mode & 0o777)) == (int(uid), int(gid), "0o700")
    conf = (root / "etc/edgenode/edgenode.conf").read_text()
    for option in ("EDGENODE_PORT=", "EDGENODE_SYNC_PORT=", "EDGENODE_PEERS=", "EDGENODE_MDNS=", "--hub"):
        assert option in conf

    unit = (root / UNIT.lstrip("/")).read_text()
    for directive in ("User=edgenode", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
                      "PrivateTmp=yes", "ReadWritePaths=/var/lib/edgenode", "EnvironmentFile=/etc/edgenode/edgenode.conf",
                      "ExecStart=/usr/bin/edgenode serve --data /var/lib/edgenode"):
        assert directive in unit.splitlines() or any(line.startswith(directive) for line in unit.splitlines()), directive
    # verify exits 0 on an unknown value (it only warns): anything it prints is a failure
    verify = subprocess.run(["systemd-analyze", "verify", f"--root={root}", UNIT], capture_output=True, text=True,
                            timeout=60, check=False)
    assert verify.returncode == 0 and verify.stdout + verify.stderr == "", verify.stdout + verify.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=true", f"--root={root}", "edgenode.service"],
                              capture_output=True, text=True, timeout=60, check=False).stdout
    exposure = re.search(r"Overall exposure level for edgenode.service: ([0-9.]+)", security)
    assert exposure is not None and float(exposure.group(1)) <= 4.0, security  # systemd calls <= 4 "OK"

    (data / "edgenode.db").write_text("the node's data")  # as a served node leaves it
    _dpkg(root, "--remove", "edgenode")
    assert not installed.exists() and not (root / UNIT.lstrip("/")).exists()
    assert (data / "edgenode.db").read_text() == "the node's data"
    _dpkg(root, "--purge", "edgenode")
    assert (data / "edgenode.db").read_text() == "the node's data" and "edgenode:" in (root / "etc/passwd").read_text()


def test_the_unit_reads_what_the_config_file_sets() -> None:
    """Every variable of edgenode.conf is used: by the unit's command line, or by `serve` as its envvar."""
    conf = (ROOT / "packaging/deb/edgenode.conf").read_text()
    names = re.findall(r"^(EDGENODE_[A-Z_]+)=", conf, flags=re.M)
    unit = (ROOT / "packaging/deb/edgenode.service").read_text()
    cli = (ROOT / "edgenode/cli.py").read_text()
    assert names and all(f"${{{name}}}" in unit or f"${name}" in unit or f'envvar="{name}"' in cli for name in names), names


def test_serve_takes_the_config_files_peers_and_mdns(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgenode.cli import serve
    monkeypatch.setenv("EDGENODE_PEERS", "10.0.0.5:8066 10.0.0.6:8066")
    monkeypatch.setenv("EDGENODE_MDNS", "0")
    params = serve.make_context("serve", []).params
    assert params["peers"] == ("10.0.0.5:8066", "10.0.0.6:8066") and params["mdns"] is False
    monkeypatch.setenv("EDGENODE_PEERS", "")  # the shipped file's empty value: no peers
    assert serve.make_context("serve", []).params["peers"] == ()
