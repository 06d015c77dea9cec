"""Entry point: page config, sign-in, the cohort in use, sidebar filters, navigation over the
views (views/__init__.py). Nothing else."""

from __future__ import annotations

import streamlit as st

import views
from views.parts import cohort, show, sidebar, signin

st.set_page_config(page_title="Tacrolimus in autoimmune cytopenias", page_icon="🩸", layout="wide")
st.html(views.PRINT_CSS)  # how a page prints: no sidebar, figures whole
show.restart_notice()  # the server or replica that held this page's session is gone
pages = views.pages()

data = cohort.in_use() if signin.signed_in() else None
# Until the user is signed in and a cohort is loaded, the views stay hidden: the page shows only
# what to do (sign in, or correct the cohort).
page = st.navigation(pages, position="sidebar" if data is not None else "hidden")
if data is None:
    st.stop()

filters = sidebar.filters(data)
ctx = cohort.Context(data, filters, cohort.results(data, filters))
cohort.set_context(ctx)
if page.title != views.DEFAULT.title:  # the overview says it at length
    show.synthetic_notice(ctx)
show.definitions_notice(ctx)
page.run()
show.footer(ctx)
