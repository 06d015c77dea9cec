"""The dashboard's views: one thin script each, and VIEWS, the one list of them that app.py
registers with st.navigation and that the tests and benchmarks read.

The client's design calls this folder `pages/`. Streamlit 1.67 treats a folder named `pages/`
beside the entry script as an old-style multipage app: it lists the files as a navigation of
its own before `app.py` has run and warns that `st.navigation` is mixed with it. Under another
name the views are only what `st.navigation` says they are.

A view's file name is also its URL path: /rfs opens views/rfs.py (with the sidebar filters in
the query string: /rfs?dx=ITP). The default view is served at / and, for links that name it, at
/overview.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
PRINT_CSS = FOLDER / "print.css"


@dataclass(frozen=True)
class View:
    name: str  # views/<name>.py, served at /<name>
    title: str
    icon: str

    @property
    def path(self) -> Path:
        return FOLDER / f"{self.name}.py"


VIEWS: tuple[View, ...] = (
    View("overview", "Overview", ":material/dashboard:"),
    View("response", "Response", ":material/bar_chart:"),
    View("rfs", "Relapse-free survival", ":material/show_chart:"),
    View("steroids", "Steroid taper", ":material/medication:"),
    View("safety", "Safety & cost", ":material/health_and_safety:"),
    View("adjusted", "Adjusted comparison", ":material/balance:"),
    View("data", "Data", ":material/table:"),
)
DEFAULT = VIEWS[0]


def pages() -> list:
    """The views as st.Page objects for st.navigation, in the order of VIEWS."""
    import streamlit as st

    pages = [st.Page(v.path, title=v.title, icon=v.icon, url_path="" if v is DEFAULT else v.name, default=v is DEFAULT)
             for v in VIEWS]
    # The default view's own name as a link (/overview) opens it too, without a second menu entry.
    pages.append(st.Page(DEFAULT.path, title=DEFAULT.title, icon=DEFAULT.icon, url_path=DEFAULT.name, visibility="hidden"))
    return pages


def view(name: str) -> View:
    """The view served at /<name>."""
    return next(v for v in VIEWS if v.name == name)
