"""The workbench's plotly look: one template, registered once, used by every figure.

Owns :data:`TEMPLATE` (the template's name, ``"telemetry"``), :func:`register_theme` and
:func:`apply_theme`, plus the palette and default sizes the figure builders share.
The template is ``plotly_white`` with a colour-blind-safe categorical palette (Okabe-Ito),
a sequential scale for heatmaps, and a readable system font, so charts in the notebook,
in the offline HTML and in the PNG/SVG exports look the same.
"""

from __future__ import annotations

import logging
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

__all__ = [
    "ANOMALY_COLOR",
    "COLORWAY",
    "DEFAULT_HEIGHT",
    "DEFAULT_WIDTH",
    "HEAT_SCALE",
    "NORMAL_COLOR",
    "TEMPLATE",
    "apply_theme",
    "register_theme",
]

logger = logging.getLogger(__name__)

TEMPLATE = "telemetry"
#: Okabe-Ito: eight colours that stay distinguishable with the common colour-vision deficiencies.
COLORWAY = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
#: Sequential and perceptually uniform: equal count steps look like equal colour steps.
HEAT_SCALE = "Viridis"
#: Flagged points stand out in vermillion against grey normal ones.
ANOMALY_COLOR = "#D55E00"
NORMAL_COLOR = "#9E9E9E"
#: 1000 x 560 px: fits a notebook cell and a report page, and a 16:9-ish PNG.
DEFAULT_WIDTH = 1000
DEFAULT_HEIGHT = 560
_FONT = "Inter, Segoe UI, Helvetica, Arial, sans-serif"


def register_theme() -> None:
    """Register the ``telemetry`` template with plotly (idempotent)."""
    if TEMPLATE in pio.templates:
        return
    base: Any = pio.templates["plotly_white"]
    template = go.layout.Template(base)
    template.layout.update(
        colorway=list(COLORWAY),
        font={"family": _FONT, "size": 13, "color": "#222222"},
        title={"x": 0.02, "xanchor": "left", "font": {"size": 18}},
        legend={"bgcolor": "rgba(255,255,255,0.6)"},
        margin={"l": 70, "r": 30, "t": 90, "b": 60},
        hoverlabel={"font": {"family": _FONT}},
        colorscale={"sequential": HEAT_SCALE},
    )
    pio.templates[TEMPLATE] = template


def apply_theme(fig: go.Figure, *, title: str | None = None) -> go.Figure:
    """Give ``fig`` the workbench template, default size and ``title``; returns ``fig``."""
    register_theme()
    fig.update_layout(template=TEMPLATE, width=DEFAULT_WIDTH, height=DEFAULT_HEIGHT)
    if title is not None:
        fig.update_layout(title={"text": title})
    return fig
