"""Entry for links to /overview. Streamlit runs the files directly in pages/ in place of app.py when a
link opens a new session; this hands over to app.py, which draws the sidebar, the navigation and
the view (pages/views/overview.py)."""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parent.parent / "app.py"), run_name="__main__")
