"""The machine fingerprint a measurements document records, and process memory read from /proc."""

from __future__ import annotations

import os

from models.machine import (
    FINGERPRINT_KEYS,
    differences,
    hardware,
    peak_rss_mb,
    proc_kb,
    process_peak_rss_mb,
    same_machine,
    versions,
)


def test_hardware_and_versions_describe_this_machine() -> None:
    found = hardware()
    assert isinstance(found["cpu"], str) and found["logical_cores"] == os.cpu_count() and found["memory_gb"] > 0
    assert found["cpu_flags"] == sorted(found["cpu_flags"])
    assert {"python", "torch", "onnxruntime", "transformers", "bentoml", "numpy"} <= set(versions())


def test_same_machine_ignores_memory_but_not_the_cpu() -> None:
    here = hardware()
    assert same_machine({**here, "memory_gb": here["memory_gb"] + 64}, here)
    for key in FINGERPRINT_KEYS:
        assert not same_machine({**here, key: "other"}, here), key


def test_differences_name_each_changed_key_with_both_values() -> None:
    recorded, current = {"cpu": "A", "cores": 2, "gone": 1}, {"cpu": "B", "cores": 2, "new": 3}
    assert differences(recorded, current, ["cpu", "cores", "gone", "new"]) == [
        "cpu A then, B now",
        "gone 1 then, None now",
        "new None then, 3 now",
    ]
    assert differences(recorded, recorded, recorded) == []


def test_process_memory_comes_from_proc() -> None:
    resident = proc_kb(os.getpid(), "VmRSS")
    assert resident is not None and resident > 1000  # a Python process with numpy loaded: megabytes
    assert peak_rss_mb() * 1e6 / 1024 >= resident  # the peak is at least what is resident now
    assert proc_kb(os.getpid(), "NoSuchField") is None
    assert proc_kb(2**22 + 12345, "VmHWM") is None  # no such process


def test_another_process_peak_memory_in_mb() -> None:
    assert 0 < process_peak_rss_mb(os.getpid()) <= round(peak_rss_mb(), 1)  # a peak only grows
    assert process_peak_rss_mb(2**22 + 12345) == 0.0  # no such process
