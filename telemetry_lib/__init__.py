"""Telemetry Workbench: the helper library the notebooks use.

The public façade is filled in as the packages land; import submodules directly meanwhile.
"""

from __future__ import annotations

__all__: list[str] = []
__version__ = "0.1.0"
