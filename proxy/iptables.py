"""The only module of the proxy that runs iptables: restore, hooks, inspection, cleanup.

Contract:
- `Iptables(prefix)`: every method is synchronous (subprocess) and raises `IptablesError`
  (command, exit code, stderr and the offending restore input line when there is one) on
  failure; callers in asyncio code run them in a thread.
- `restore(text)`: `iptables-restore --noflush -w 5` (chains not named in the text are left
  alone; each table block commits atomically).
- `ensure_hooks()`: the jumps from the built-in chains into ours, each checked with `-C` and
  inserted at position 1 only when missing (idempotent; restarting never duplicates them):
  nat PREROUTING/OUTPUT -> <P>-SERVICES, nat POSTROUTING -> <P>-POSTROUTING, filter
  OUTPUT/FORWARD (ctstate NEW) -> <P>-SERVICES, filter INPUT/FORWARD (ctstate NEW) ->
  <P>-EXTERNAL-SERVICES. The target chains must exist (restore first).
- `our_chains()`: {table: chain names starting with "<P>-"} from `iptables-save`, except the
  kubelet's guard and the policy agent's `<P>-NP...` chains.
- `cleanup()`: removes the hooks, then flushes and deletes every chain `our_chains()` names.
  Idempotent; safe when nothing was ever installed.
- `cleanup_all(prefix)`: both cleanups below (fixtures after a killed proxy).
- `PolicyIptables(prefix)`: the same for the NetworkPolicy agent (proxy/netpol.py): it owns
  only the `<P>-NP...` chains; its hooks are filter FORWARD -> `<P>-NPOL` (every packet) and
  filter INPUT -> `<P>-NPOL` (DNATed packets only). `ensure_hooks()` also moves the FORWARD
  hook back above any rule that would accept the packet first (Docker re-inserts its own
  jumps at the top of FORWARD whenever a network is created).
"""

from __future__ import annotations

import logging
import subprocess
import time

from proxy.netpol_render import is_policy_chain
from proxy.render import delete_text

# Chains with our prefix that other components own (kubelet/network.py: the traffic guard).
FOREIGN_SUFFIXES = ("GUARD",)
log = logging.getLogger(__name__)

WAIT = ["-w", "5"]  # wait for the xtables lock instead of failing when Docker holds it


class IptablesError(RuntimeError):
    pass


def _run(args: list[str], *, input_text: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, input=input_text, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        msg = f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}"
        if input_text is not None:
            msg += _offending_line(proc.stderr, input_text)
        raise IptablesError(msg)
    return proc


def _offending_line(stderr: str, text: str) -> str:
    # iptables-restore says "line N failed": show that line, it is what a human needs.
    for word in stderr.replace(":", " ").split():
        if word.isdigit() and "line" in stderr:
            lines = text.splitlines()
            n = int(word)
            if 0 < n <= len(lines):
                return f"\n  line {n}: {lines[n - 1]}"
    return ""


class Iptables:
    def __init__(self, prefix: str = "KUBELITE") -> None:
        self.prefix = prefix

    def hooks(self) -> list[tuple[str, str, list[str]]]:
        """(table, built-in chain, rule spec) for every jump into our chains."""
        p = self.prefix
        portals = ["-m", "comment", "--comment", f"{p} service portals", "-j", f"{p}-SERVICES"]
        new = ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment"]
        return [
            ("nat", "PREROUTING", portals),
            ("nat", "OUTPUT", portals),
            ("nat", "POSTROUTING", ["-m", "comment", "--comment", f"{p} postrouting rules",
                                    "-j", f"{p}-POSTROUTING"]),
            ("filter", "OUTPUT", [*new, f"{p} service portals", "-j", f"{p}-SERVICES"]),
            ("filter", "FORWARD", [*new, f"{p} service portals", "-j", f"{p}-SERVICES"]),
            ("filter", "INPUT", [*new, f"{p} externally-visible service portals", "-j", f"{p}-EXTERNAL-SERVICES"]),
            ("filter", "FORWARD", [*new, f"{p} externally-visible service portals",
                                   "-j", f"{p}-EXTERNAL-SERVICES"]),
        ]

    def restore(self, text: str) -> None:
        _run(["iptables-restore", "--noflush", *WAIT], input_text=text)

    def save(self, table: str) -> str:
        return _run(["iptables-save", "-t", table]).stdout

    def ensure_hooks(self) -> int:
        """Insert missing hooks; returns how many were inserted."""
        inserted = 0
        for table, chain, spec in self.hooks():
            if _run(["iptables", *WAIT, "-t", table, "-C", chain, *spec], check=False).returncode != 0:
                _run(["iptables", *WAIT, "-t", table, "-I", chain, "1", *spec])
                inserted += 1
        return inserted

    def owns(self, chain: str) -> bool:
        # The kubelet's traffic guard (KUBELITE-GUARD) shares the prefix but is not ours: it must
        # outlive the proxy, and deleting it would let Service/pod traffic leave the machine.
        # The policy agent's chains are its own (it syncs and cleans them up itself).
        foreign = {f"{self.prefix}-{suffix}" for suffix in FOREIGN_SUFFIXES}
        return chain.startswith(f"{self.prefix}-") and chain not in foreign and not is_policy_chain(chain, self.prefix)

    def our_chains(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for table in ("nat", "filter"):
            names = set()
            for line in self.save(table).splitlines():
                if line.startswith(":") and self.owns(line[1:].split()[0]):
                    names.add(line[1:].split()[0])
            found[table] = names
        return found

    def cleanup(self, attempts: int = 5, retry_s: float = 0.5) -> None:
        """Remove our hooks, then our chains. Retried: a sync cancelled just before may still be
        running iptables-restore in its worker thread and put a hook back, and a chain that a
        rule still jumps to cannot be deleted."""
        for attempt in range(attempts):
            try:
                self._cleanup_once()
                return
            except IptablesError as exc:
                if attempt == attempts - 1:
                    raise
                log.warning("cleanup of prefix %s failed, retrying: %s", self.prefix, exc)
                time.sleep(retry_s)

    def _cleanup_once(self) -> None:
        for table, chain, spec in self.hooks():
            # A hook may have been inserted twice by hand: delete until -D fails.
            for _ in range(16):
                if _run(["iptables", *WAIT, "-t", table, "-D", chain, *spec], check=False).returncode != 0:
                    break
        # Batched: one commit deleting tens of thousands of chains takes minutes on iptables-nft.
        text = delete_text({t: names for t, names in self.our_chains().items() if names})
        if text:
            self.restore(text)
        log.info("removed iptables chains with prefix %s", self.prefix)


# Targets of rules that may accept a FORWARD packet before the policy hook sees it.
_ACCEPTING = ("ACCEPT", "DOCKER", "DOCKER-FORWARD")


class PolicyIptables(Iptables):
    """The NetworkPolicy agent's chains and hooks (see module docstring)."""

    def owns(self, chain: str) -> bool:
        return is_policy_chain(chain, self.prefix)

    def hooks(self) -> list[tuple[str, str, list[str]]]:
        p = self.prefix
        return [
            ("filter", "FORWARD", ["-m", "comment", "--comment", f"{p} network policies", "-j", f"{p}-NPOL"]),
            ("filter", "INPUT", ["-m", "conntrack", "--ctstate", "DNAT", "-m", "comment", "--comment",
                                 f"{p} network policies", "-j", f"{p}-NPOL"]),
        ]

    def ensure_hooks(self) -> int:
        inserted = super().ensure_hooks()
        return inserted + self._hoist_forward_hook()

    def _hoist_forward_hook(self) -> int:
        """Move the FORWARD hook above the first rule that could accept the packet; 1 if moved."""
        spec = self.hooks()[0][2]
        target = f"-j {self.prefix}-NPOL"
        # `-S FORWARD` lists one chain: cheap even with thousands of policy rules in the table.
        for line in _run(["iptables", *WAIT, "-t", "filter", "-S", "FORWARD"]).stdout.splitlines():
            if not line.startswith("-A FORWARD "):
                continue
            if target in line and f"{self.prefix} network policies" in line:
                return 0  # reached ours first
            words = line.split()
            jump = words[words.index("-j") + 1] if "-j" in words else ""
            if jump in _ACCEPTING:
                _run(["iptables", *WAIT, "-t", "filter", "-D", "FORWARD", *spec], check=False)
                _run(["iptables", *WAIT, "-t", "filter", "-I", "FORWARD", "1", *spec])
                log.info("moved the network policy hook to the top of FORWARD")
                return 1
        return 0


def cleanup_all(prefix: str) -> None:
    """Everything a proxy process with `prefix` may have left (policy chains first: its hooks
    are separate); what test fixtures call after killing a proxy."""
    PolicyIptables(prefix).cleanup()
    Iptables(prefix).cleanup()
