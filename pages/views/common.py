"""What every page shares: the cohort in use, the sidebar filters (bound to the URL), cached
results, charts with export settings, captions and the provenance footer. Pages stay thin."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit import config

import hosting
from analysis import __version__
from analysis.cohort import DEFAULT_COHORT, Cohort, load
from analysis.filters import Filters
from analysis.plots import export_config
from analysis.report import Results, compute
from analysis.schema import ARM_CONTROL, ARM_LABELS, ARM_TACROLIMUS, DIAGNOSES, SEXES, SEX_LABELS
from pages.views import session, shared

# The views live in pages/views/; pages/*.py are one-line entries that hand a link such as /rfs
# over to app.py (see pages/rfs.py). Absolute paths let the views resolve wherever the entry
# script runs from (AppTest runs a temporary copy).
PAGES = Path(__file__).resolve().parent
SMALL_ARM = 5
LOGIN_SETTING = "DASHBOARD_LOGIN"  # environment: "on" requires sign-in (st.login); off by default
AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")


_MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:=")


def md_escape(text: object) -> str:
    """Text from a cohort (names, cells, file names) shown as itself: Streamlit renders Markdown
    in st.markdown, st.caption, alerts and st.table cells, so an uploaded value such as
    ![x](http://host/x.png) would otherwise load an image from elsewhere."""
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in str(text))


def problems_table(report) -> None:
    """Every problem of a validation report as a table, cohort text escaped."""
    frame = report.to_frame()[["severity", "table", "column", "rows", "problem"]]
    frame["rows"] = frame["rows"].map(lambda n: f"{n:,}" if n else "")
    # A file that cannot be read at all names no table, column or rows: leave those columns out.
    keep = [c for c in frame.columns if c in ("severity", "problem") or frame[c].astype(str).str.len().gt(0).any()]
    st.table(frame[keep].map(md_escape).set_index("severity"))


def login_setting() -> str:
    """DASHBOARD_LOGIN as given: "on", "off" (the default), or anything else, which require_login refuses."""
    return os.environ.get(LOGIN_SETTING, "off").strip().lower()


def stop(pages: list) -> None:
    """End this run before any view: the navigation is declared but hidden, so Streamlit does not
    list the pages/*.py entry files in the sidebar instead ("app, data, overview …")."""
    st.navigation(pages, position="hidden")
    st.stop()


def require_login(pages: list) -> None:
    """With DASHBOARD_LOGIN=on, show nothing of the cohort until the user has signed in with the
    hospital's OpenID Connect provider (Streamlit's st.login, configured in the [auth] section of
    .streamlit/secrets.toml). Fails closed: a bad setting or missing [auth] stops the app with a
    sentence saying what to fix."""
    setting = login_setting()
    if setting not in ("on", "off"):
        st.error(f"{LOGIN_SETTING} is set to “{md_escape(setting)}”: use on (sign-in required) or off.")
        stop(pages)
    if setting == "off":
        return
    try:
        auth = dict(st.secrets.get("auth", {}))
    except Exception:  # no or unreadable secrets.toml: Streamlit raises its own error types here
        auth = {}
    missing = [k for k in AUTH_KEYS if not auth.get(k)]
    if missing:
        st.error(f"Sign-in is switched on ({LOGIN_SETTING}=on) but the [auth] section of .streamlit/secrets.toml "
                 f"lacks {', '.join(missing)}. Add them (see the README, “Sign-in”) or set {LOGIN_SETTING}=off.")
        stop(pages)
    if not st.user.is_logged_in:
        st.title("Tacrolimus + steroid vs steroid alone")
        st.markdown("This dashboard holds patient data. Sign in with your hospital account to continue.")
        st.button("Sign in", on_click=st.login, type="primary")
        stop(pages)
    with st.sidebar:
        who = st.user.get("email") or st.user.get("name") or "signed in"
        st.text(f"Signed in as {who}")  # plain text: Markdown would turn an e-mail address into a link
        st.button("Sign out", on_click=st.logout)


def _fingerprint(path: Path) -> str:
    """Names, sizes and times of the cohort's files: a changed file is a new cohort. Empty when the
    path cannot be read, so that loading it says why."""
    try:
        files = [path] if path.is_file() else sorted(f for f in path.iterdir() if f.is_file())
        return ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    except OSError:
        return ""


def configured_path() -> Path:
    return Path(os.environ.get("COHORT_PATH") or DEFAULT_COHORT)


def configured_cohort() -> Cohort:
    """The cohort on disk: COHORT_PATH (a mounted department cohort) or the shipped one."""
    return cohort_on_disk(configured_path())


def cohort_on_disk(path: Path) -> Cohort:
    """A cohort on disk, read and derived once per server and file fingerprint (pages/views/shared.py)."""
    key = (str(path), _fingerprint(path))
    if key in shared.COHORTS:
        return shared.COHORTS.get(key, lambda: load(path))
    with st.spinner("Loading the cohort…"):
        return shared.COHORTS.get(key, lambda: load(path))


def active_cohort() -> Cohort:
    up = session.upload()
    cohort = up.cohort if up is not None else None
    dropped = session.dropped()
    if dropped:
        st.warning(f"The cohort uploaded from {md_escape(dropped)} was let go to free the server's memory for other "
                   "uploads; the configured cohort is shown. Upload the file again on the Data page to go on with it.")
    return cohort if cohort is not None else configured_cohort()


def results(cohort: Cohort, filters: Filters) -> Results:
    """Statistics for the filtered cohort. An uploaded cohort's results stay in this session."""
    up = session.upload()
    if up is not None and up.cohort is cohort:
        return session.results_of_upload(cohort, filters, compute)
    return shared.RESULTS.get((cohort.sha256, filters), lambda: compute(cohort, filters))


def _reset(age_range: tuple[int, int]) -> None:
    st.session_state["dx"] = list(DIAGNOSES)
    st.session_state["sex"] = list(SEXES)
    st.session_state["age"] = age_range


def sidebar_filters(cohort: Cohort) -> tuple[Filters, bool]:
    """The filters, and whether the selection is empty (no diagnosis or no sex chosen)."""
    e = cohort.endpoints
    lo, hi = int(e["age"].min()), int(e["age"].max())
    if lo == hi:
        hi = lo + 1
    with st.sidebar:
        st.markdown("### Filters")
        dx = st.multiselect("Diagnosis", list(DIAGNOSES), default=list(DIAGNOSES), key="dx", bind="query-params")
        age = st.slider("Age at treatment start (years)", lo, hi, (lo, hi), key="age", bind="query-params")
        sex = st.multiselect("Sex", list(SEXES), default=list(SEXES), format_func=SEX_LABELS.get, key="sex",
                             bind="query-params")
        filters = Filters(
            diagnosis=tuple(d for d in DIAGNOSES if d in dx) if set(dx) != set(DIAGNOSES) else (),
            sex=tuple(s for s in SEXES if s in sex) if set(sex) != set(SEXES) else (),
            age_min=float(age[0]) if age[0] > lo else None,
            age_max=float(age[1]) if age[1] < hi else None,
        )
        shown = filters.apply(e) if dx and sex else e.iloc[0:0]
        n_t = int((shown["arm"] == ARM_TACROLIMUS).sum())
        n_c = int((shown["arm"] == ARM_CONTROL).sum())
        st.markdown(f"**n = {len(shown)} of {len(e)} patients** · tacrolimus {n_t} · control {n_c}")
        st.button("Reset filters", on_click=_reset, args=((lo, hi),), width="stretch")
        st.divider()
        st.segmented_control("Figure download (camera icon on each figure)", ["PNG (2×)", "SVG"], default="PNG (2×)",
                             key="export_format", required=True)
    return filters, not dx or not sex


@dataclass(frozen=True)
class Context:
    cohort: Cohort
    filters: Filters
    results: Results
    empty_selection: bool


def set_context(ctx: Context) -> None:
    st.session_state["_context"] = ctx


def context() -> Context:
    return st.session_state["_context"]


def arm_sizes_ok(ctx: Context, what: str = "patients") -> bool:
    """Say so, in a sentence, when the filter leaves an arm empty or tiny. False when empty."""
    p = ctx.results.patients
    if ctx.empty_selection:
        st.warning("No diagnosis or no sex is selected, so no patients are shown. Choose at least one of each.")
        return False
    n = {arm: int((p["arm"] == arm).sum()) for arm in (ARM_TACROLIMUS, ARM_CONTROL)}
    empty = [ARM_LABELS[a] for a, k in n.items() if k == 0]
    if empty:
        st.warning(f"The current filters leave no {what} in the {' and '.join(empty)} arm, so the arms cannot be "
                   f"compared. Widen the filters (n: tacrolimus {n[ARM_TACROLIMUS]}, control {n[ARM_CONTROL]}).")
        return False
    small = [f"{ARM_LABELS[a]} ({k})" for a, k in n.items() if k < SMALL_ARM]
    if small:
        st.info(f"Few patients in {', '.join(small)}: estimates below are very uncertain.")
    return True


def chart(fig, view: str, ctx: Context) -> None:
    fmt = "svg" if st.session_state.get("export_format") == "SVG" else "png"
    st.plotly_chart(fig, width="stretch", config=export_config(view, ctx.filters.describe(), fmt))


def footer(ctx: Context) -> None:
    c = ctx.cohort
    kind = "synthetic data, not real patients" if c.synthetic else "department data"
    st.caption(f"Data: {md_escape(c.name)} ({kind}) · content hash {c.short_hash} · filters: "
               f"{md_escape(ctx.filters.describe())} · app version {__version__}")


# What a department's IT checks before patient data goes in, read from this server process as it
# runs (config file, environment and command line merged), so a deployment can be verified from
# the browser. tests/hardening.py reads this table from a running server and a running container.
DEPLOYMENT_SETTINGS = (
    ("browser.gatherUsageStats", "usage statistics sent from each browser"),
    ("browser.serverAddress", "address printed at start; set, so Streamlit does not look up a public IP"),
    ("client.showErrorDetails", "error details shown in the browser"),
    ("client.toolbarMode", "toolbar"),
    ("server.enableXsrfProtection", "XSRF protection"),
    ("server.enableCORS", "cross-origin requests and WebSockets refused"),
    ("server.maxUploadSize", "upload limit (MB)"),
    ("server.fileWatcherType", "file watcher"),
    ("server.allowedHosts", "host names accepted (empty: any)"),
    ("server.address", "network address listened on (127.0.0.1: this machine only)"),
    ("server.trustedUserHeaders", "browser identity from the dashboard's cookie: a session resumes only in its browser"),
    ("server.enableAgentApi", "agent API (drives the app without a browser)"),
)


def deployment_settings() -> None:
    def shown(value: object) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, list):
            return ", ".join(map(str, value)) or "(empty)"
        if isinstance(value, dict):
            return ", ".join(f"{k} → {v}" for k, v in value.items()) or "(empty)"
        if value is None:
            return "(not set)"
        return str(value)

    rows = [f"| {key} | {meaning} | {md_escape(shown(config.get_option(key)))} |" for key, meaning in DEPLOYMENT_SETTINGS]
    rows.append(f"| {LOGIN_SETTING} | sign-in required (OpenID Connect) | {md_escape(login_setting())} |")
    served = "yes" if hosting.ACTIVE else "no: started without server.py (streamlit run app.py)"
    rows.append(f"| server.py | sessions and downloads bound to the browser, uploads kept in memory, security "
                f"headers | {md_escape(served)} |")
    st.markdown("| setting | meaning | in effect |\n|---|---|---|\n" + "\n".join(rows))
