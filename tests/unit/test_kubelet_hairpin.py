"""kubelet.network.enable_hairpin on a fake /sys tree: every port of the bridge gets mode 1,
ports already set are left alone, a missing bridge changes nothing."""

from __future__ import annotations

from pathlib import Path

from kubelet.network import enable_hairpin


def _port(root: Path, bridge: str, port: str, mode: str) -> Path:
    d = root / "class" / "net" / bridge / "brif" / port
    d.mkdir(parents=True)
    (d / "hairpin_mode").write_text(mode + "\n")
    return d / "hairpin_mode"


def test_sets_every_port_once(tmp_path: Path) -> None:
    a = _port(tmp_path, "kl-x", "veth1", "0")
    b = _port(tmp_path, "kl-x", "veth2", "1")
    other = _port(tmp_path, "docker0", "veth3", "0")
    assert enable_hairpin("kl-x", sys_root=str(tmp_path)) == 1
    assert a.read_text().strip() == "1" and b.read_text().strip() == "1"
    assert other.read_text().strip() == "0"  # another bridge is never touched
    assert enable_hairpin("kl-x", sys_root=str(tmp_path)) == 0


def test_missing_bridge_is_nothing(tmp_path: Path) -> None:
    assert enable_hairpin("kl-none", sys_root=str(tmp_path)) == 0
