"""The machine a measurement runs on, as Linux's /proc shows it: the hardware and software fingerprint a
measurements document records (and compares, to tell whether it can be reused), and a process's memory."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

VERSIONED_PACKAGES = ("torch", "onnxruntime", "transformers", "bentoml", "numpy")
CPU_FLAG_PREFIXES = ("avx512", "avx2", "amx")
FINGERPRINT_KEYS = ("cpu", "logical_cores", "machine", "cpu_flags")  # what makes two machines measure alike


def _proc_field(path: str, key: str) -> str | None:
    """The value of `key:` in a /proc file of `key: value` lines (cpuinfo, meminfo, <pid>/status)."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def hardware() -> dict[str, Any]:
    flags = (_proc_field("/proc/cpuinfo", "flags") or "").split()
    memory_kb = (_proc_field("/proc/meminfo", "MemTotal") or "0 kB").split()[0]
    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "logical_cores": os.cpu_count(),
        "memory_gb": round(int(memory_kb) * 1024 / 1e9, 1),
        "machine": platform.machine(),
        "cpu_flags": sorted(f for f in flags if f.startswith(CPU_FLAG_PREFIXES) or "vnni" in f),
    }


def versions() -> dict[str, str | None]:
    from models.store import package_versions

    return package_versions(*VERSIONED_PACKAGES)


def differences(recorded: Mapping[str, Any], current: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    """`key <recorded> then, <current> now` for each of `keys` whose value differs (empty when none does)."""
    return [
        f"{key} {recorded.get(key)} then, {current.get(key)} now"
        for key in keys
        if recorded.get(key) != current.get(key)
    ]


def same_machine(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    return not differences(recorded, current, FINGERPRINT_KEYS)


def proc_kb(pid: int, key: str) -> int | None:
    """A memory figure (`VmHWM`, `VmRSS`, ...) of a process from /proc/<pid>/status, in kB; None if unreadable."""
    value = _proc_field(f"/proc/{pid}/status", key)
    try:
        return int(value.split()[0]) if value else None
    except ValueError:
        return None


def process_peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of process `pid` so far, in MB; 0 if unreadable."""
    return round((proc_kb(pid, "VmHWM") or 0) * 1024 / 1e6, 1)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    VmHWM, not `ru_maxrss`: Linux carries ru_maxrss over fork + exec, so a spawned child would report its
    parent's peak. VmHWM belongs to the process's own address space, which exec makes new.
    """
    kb = proc_kb(os.getpid(), "VmHWM")
    if kb is None:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kb * 1024 / 1e6
