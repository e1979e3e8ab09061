"""HeyGem Workbench notebook panel (ipywidgets 8), also served as a web app by ``heygem serve``.

In a notebook::

    from heygem_widgets import Workbench
    Workbench()

Modules: ``panel`` (the widgets; ``history_panel`` the History tab), ``views`` (media previews, result cards), and the
browser-free logic they call: ``uploads`` (safe names, size limits), ``history`` (run folders:
list, page, delete, ZIP), ``progress`` (stage weights), ``workspace`` (folders, served URLs),
``media`` (thumbnails).
"""
from __future__ import annotations

from .workspace import Workspace


def __getattr__(name: str):
    if name == "Workbench":  # ipywidgets loads on first use: importing the package stays cheap
        from .panel import Workbench
        return Workbench
    raise AttributeError(name)


__all__ = ["Workbench", "Workspace"]
