"""What a benchmark report says about the machine it ran on.

Recorded because the same code measured here has run up to twice as fast on one VM as on
another: a result means little without the CPU it came from."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU model and clock from /proc/cpuinfo ("unknown" where there is none)."""
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or "unknown"
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("model name", "cpu MHz"):
            fields.setdefault(key.strip(), value.strip())
    model = fields.get("model name", platform.processor() or "unknown")
    mhz = fields.get("cpu MHz")
    return f"{model} @ {float(mhz):,.0f} MHz" if mhz else model


def describe() -> str:
    """One line: CPUs, CPU model, platform and Python version."""
    return (
        f"{os.cpu_count()} CPUs (`nproc` {len(os.sched_getaffinity(0))}), {cpu_model()}, "
        f"{platform.platform()}, Python {platform.python_version()}"
    )
