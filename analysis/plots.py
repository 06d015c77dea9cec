"""Plotly figure builders: results in, go.Figure out. Same arm colours everywhere (Okabe–Ito,
colour-blind safe), axis titles with units, no Streamlit."""

from __future__ import annotations

import functools
import textwrap

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .format import file_stem, missing, p_value, subgroup_table, target_range
from .proportions import Comparison
from .schema import ARM_CONTROL, ARM_LABELS, ARM_TACROLIMUS, ARMS, DIAGNOSIS_LABELS, TACROLIMUS_TROUGH_TARGET
from .survival import ArmComparison, KMCurve, time_ticks

ARM_COLORS = {ARM_TACROLIMUS: "#0072B2", ARM_CONTROL: "#E69F00"}  # Okabe–Ito blue and orange
ARM_TEXT_COLORS = {ARM_TACROLIMUS: "#0072B2", ARM_CONTROL: "#A35F00"}  # the arm colours as text: 5.1:1 and 4.6:1 on white
ARM_FILL = {ARM_TACROLIMUS: "rgba(0,114,178,0.15)", ARM_CONTROL: "rgba(230,159,0,0.18)"}
RESPONSE_COLORS = {"CR": "#009E73", "R/PR": "#56B4E9", "NR": "#BBBBBB"}
TEXT = "#2f2d2b"  # near-black: 13.9:1 on white (Streamlit's chart theme draws ticks in #808495, 3.7:1)
FONT = dict(family="Source Sans Pro, Arial, sans-serif", size=14, color=TEXT)
PROJECTOR_FONT = 18  # smallest text in projector mode, px
STAMP_LINE = 15  # px per line of the provenance under a figure


def _layout_dict(title: str, height: int, axes) -> dict:
    """The look every figure shares, as a layout: title pinned to the top with room under it for a
    two-line legend, near-black text on each of `axes` (Streamlit's chart theme would draw axis
    text in #808495 over a global font colour), margins and the legend over the plot area.

    No template here: the dashboard draws figures with Streamlit's theme, which replaces a
    template's background, grid and fonts (plotly_white and plotly look the same there), and
    assigning one costs ~7 ms of validation per figure — 38% of a page's render time."""
    return {
        **{a: dict(tickfont=dict(color=TEXT), title=dict(font=dict(color=TEXT))) for a in axes},
        "title": dict(text=title, x=0, xanchor="left", yref="container", y=1, yanchor="top", pad=dict(t=10),
                      font=dict(size=17, color=TEXT)),
        "font": FONT, "height": height, "margin": dict(l=70, r=30, t=95, b=60),
        "legend": dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1, font=dict(color=TEXT)),
    }


def _layout(fig: go.Figure, title: str, height: int = 460) -> go.Figure:
    """`_layout_dict` applied to a built figure, in one update (each update of a figure that holds
    its traces costs a few ms)."""
    axes = {"xaxis", "yaxis"} | {a for a in fig.layout._subplotid_props if a.startswith(("xaxis", "yaxis"))}
    fig.update_layout(_layout_dict(title, height, axes))
    return fig


def _merge(base: dict, extra: dict) -> dict:
    """`base` with `extra` laid over it, nested dicts merged key by key (a new dict)."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def for_projector(fig: go.Figure) -> go.Figure:
    """The same figure for a meeting room: every text at least 18 px (titles 24), near-black, lines
    and markers thicker. Changes `fig` and returns it."""
    def bigger(size, floor: int = PROJECTOR_FONT) -> int:
        return max(floor, round(1.3 * (size or FONT["size"])))

    fig.update_layout(font=dict(size=PROJECTOR_FONT, color="#111111"),
                      title_font=dict(size=24, color="#111111"), legend_font=dict(size=PROJECTOR_FONT))
    fig.for_each_xaxis(lambda a: a.update(tickfont_size=PROJECTOR_FONT, title_font_size=20, tickfont_color="#111111"))
    # A log axis with many labelled ticks (the forest's) keeps every other one at the larger size.
    fig.for_each_xaxis(lambda a: a.update(tickvals=a.tickvals[::2], ticktext=a.ticktext[::2])
                       if a.type == "log" and a.tickvals is not None and len(a.tickvals) > 6 else None)
    fig.for_each_yaxis(lambda a: a.update(tickfont_size=PROJECTOR_FONT, title_font_size=20, tickfont_color="#111111"))
    fig.for_each_annotation(lambda a: a.update(font_size=bigger(a.font.size), font_color=a.font.color or "#111111"))
    beside = [a for a in fig.layout.annotations if a.xref == "paper" and (a.x or 0) >= 1]
    for a in beside:  # text columns beside the plot (the forest's): spread for the larger text
        a.xshift = 1.4 * (a.xshift or 0)
    if beside:  # room for the last column's text (at 18 px, "0.30 (0.19–0.49)" is about 150 px)
        fig.update_layout(margin_r=max(a.xshift for a in beside) + 165)
    for trace in fig.data:
        if getattr(trace, "line", None) is not None and trace.line.width:
            trace.line.width = 1.6 * trace.line.width
        if getattr(trace, "textfont", None) is not None and getattr(trace, "mode", None) == "text":
            trace.textfont.size = bigger(trace.textfont.size)
        size = getattr(getattr(trace, "marker", None), "size", None) if hasattr(trace, "mode") else None  # not bars
        if size and not isinstance(size, tuple):
            trace.marker.size = 1.4 * size
    fig.update_layout(height=int(1.15 * (fig.layout.height or 460)))
    return fig


ARM_SHORT = {ARM_LABELS[ARM_TACROLIMUS]: "Tacrolimus", ARM_LABELS[ARM_CONTROL]: "Steroid"}


def for_phone(fig: go.Figure) -> go.Figure:
    """The same figure for a phone's width (about 350 px): text columns beside the plot left out
    (the table under the figure has them), every other time tick and at-risk count, short arm
    names on the axes, smaller margins. Changes `fig` and returns it."""
    beside = [a for a in fig.layout.annotations if a.xref == "paper" and (a.x or 0) >= 1]
    fig.layout.annotations = [a for a in fig.layout.annotations if a not in beside]
    if beside:
        fig.update_layout(margin_r=20)

    def thin(values):
        return list(values)[::2] if values is not None and len(values) > 5 else values

    def axis(a):
        if a.tickvals is not None and a.type != "log" and a.ticktext is None:
            a.tickvals = thin(a.tickvals)
        if a.ticktext is not None:
            a.ticktext = [ARM_SHORT.get(t, t) for t in a.ticktext]

    fig.for_each_xaxis(axis)
    extra_lines = wrap_categories(fig, font_size=11)
    fig.for_each_yaxis(axis)
    for a in fig.layout.annotations:  # p-values over bar groups
        if a.yref in (None, "y") and a.xref in (None, "x"):
            a.text, a.font.size = (a.text or "").replace(" = ", "=").replace(" < ", "<"), 10
    title = fig.layout.title.text or ""
    wrapped = "<br>".join(textwrap.wrap(title, 38))
    # Below the toolbar that a phone shows over the top of every figure; room for a wrapped title
    # and for the lines of the category names.
    fig.update_layout(title_text=wrapped, title_pad_t=40,
                      margin_t=(fig.layout.margin.t or 95) + 30 + 20 * wrapped.count("<br>"),
                      margin_b=(fig.layout.margin.b or 60) + 13 * extra_lines)
    for trace in fig.data:
        if getattr(trace, "mode", None) == "text" and trace.x is not None and len(trace.x) > 5:
            trace.x, trace.text = thin(trace.x), thin(trace.text)
            trace.y = list(trace.y)[: len(trace.x)]
    fig.update_layout(margin_l=min(fig.layout.margin.l or 70, 50), legend_font_size=12)
    return fig


def wrap_categories(fig: go.Figure, width: int = 12, font_size: int | None = None) -> int:
    """Bar groups' names wrapped at `width` characters and each arm's count on a line of its own,
    upright, for a narrow figure (rotated names ran into the provenance). Returns how many lines
    the names gained. Changes `fig`."""
    gained = 0

    def wrap(a):
        nonlocal gained
        if a.ticktext is not None and any("<br>" in t for t in a.ticktext):
            texts = []
            for t in a.ticktext:
                name, *counts = t.split("<br>")
                texts.append("<br>".join(textwrap.wrap(name, width) + " · ".join(counts).split(" · ")))
            a.ticktext, a.tickangle = texts, 0
            if font_size:
                a.tickfont.size = font_size
            gained = max(gained, max(t.count("<br>") for t in texts) - 1)

    fig.for_each_xaxis(wrap)
    return gained


def plain(text: str) -> str:
    """Text for a figure shown as itself: Plotly reads <b>, <a href> and entities in text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def stamp(fig: go.Figure, source: str, selection: str, when: str, narrow: bool = False) -> go.Figure:
    """The figure's provenance under it, so that a downloaded PNG or SVG carries it inside the
    image: where the data comes from, which patients (filters, n per arm), when and by which app
    version. Two lines (more when the selection is long, as with a reviewer's definitions in
    force), three or more on a narrow figure. Changes `fig` and returns it."""
    lines = [w for t in (source, selection, when) for w in textwrap.wrap(t, 62)] if narrow else \
        [w for t in (source, f"{selection} · {when}") for w in textwrap.wrap(t, 140)]
    bottom = (fig.layout.margin.b or 60) + STAMP_LINE * len(lines) + 8
    # A narrow figure's plot area may start far right of its edge (long category labels): its
    # lines hang from the plot area's right edge instead, where the margin is small.
    line = dict(xref="paper", yref="paper", x=1 if narrow else 0, y=0, yshift=-bottom + 6,
                xanchor="right" if narrow else "left", yanchor="bottom",
                showarrow=False, text="<br>".join(plain(t) for t in lines),
                font=dict(size=9 if narrow else 11, color="#555555"), align="left")
    fig.update_layout(margin_b=bottom)
    fig.add_annotation(line)  # 1 ms; setting the whole list of annotations again costs 30 on a KM figure
    return fig


def _rate_bars(fig: go.Figure, categories: list[str], per_arm: dict[str, list], p_texts: list[str]) -> go.Figure:
    """Grouped bars of rates per arm with their 95% CI error bars; events/n per arm written under
    each category's name (inside a short bar they would collide with its error bar), the p-value
    or the reason above. `per_arm[arm]`: one (rate, ci_low, ci_high, events, n) per category."""
    for arm in ARMS:
        rows = per_arm[arm]
        y = [None if missing(r) else 100 * r for r, *_ in rows]
        fig.add_bar(
            name=ARM_LABELS[arm], x=categories, y=y, marker_color=ARM_COLORS[arm],
            error_y=dict(type="data", symmetric=False, color="#333",
                         array=[None if missing(r) else 100 * (hi - r) for r, lo, hi, *_ in rows],
                         arrayminus=[None if missing(r) else 100 * (r - lo) for r, lo, hi, *_ in rows]),
            customdata=[f"{e:,}/{n:,}" for *_, e, n in rows],
            hovertemplate="%{x}: %{y:.1f}% (%{customdata})<extra>" + ARM_LABELS[arm] + "</extra>",
        )
    ticks = [f"{c}<br>" + " · ".join(f"<span style='color:{ARM_TEXT_COLORS[a]}'>{per_arm[a][i][3]:,}/{per_arm[a][i][4]:,}</span>"
                                      for a in ARMS) for i, c in enumerate(categories)]
    fig.update_xaxes(tickvals=categories, ticktext=ticks)
    for c, text in zip(categories, p_texts):  # a reason instead of a p-value is wrapped to its group's width
        fig.add_annotation(x=c, y=105, text="<br>".join(textwrap.wrap(text, 18)), showarrow=False, font=dict(size=13),
                           yanchor="bottom" if len(text) > 18 else "middle")
    fig.update_yaxes(title="Patients (%)", range=[0, 112])
    fig.update_layout(barmode="group")
    return fig


def rates(comparisons: dict[str, Comparison], title: str = "Best response by arm") -> go.Figure:
    """Grouped bars of rates per arm with Wilson 95% CI error bars, events/n under each bar group."""
    labels = list(comparisons)
    per_arm = {arm: [(p.rate, p.ci_low, p.ci_high, p.events, p.n)
                     for p in (comparisons[k].a if arm == ARM_TACROLIMUS else comparisons[k].b for k in labels)]
               for arm in ARMS}
    p_texts = [p_value(comparisons[k].p_value) if not comparisons[k].reason else comparisons[k].reason for k in labels]
    return _layout(_rate_bars(go.Figure(), labels, per_arm, p_texts), title, height=480)


def response_distribution(distribution: pd.DataFrame, title: str = "Best response") -> go.Figure:
    """Stacked bars (CR / R·PR / NR) per arm, as shares."""
    fig = go.Figure()
    for response in ("CR", "R/PR", "NR"):
        sub = distribution[distribution["response"] == response].set_index("arm").reindex(list(ARMS))
        fig.add_bar(name=response, x=[ARM_LABELS[a] for a in ARMS], y=100 * sub["share"],
                    marker_color=RESPONSE_COLORS[response], text=[f"{n:,}" for n in sub["patients"]], textposition="inside",
                    hovertemplate="%{x}: %{y:.1f}% (%{text} patients)<extra>" + response + "</extra>")
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title="Patients (%)", range=[0, 100])
    return _layout(fig, title)


def rates_by_diagnosis(by_dx: pd.DataFrame, endpoint: str, title: str) -> go.Figure:
    """`rates` for one endpoint (ORR or CRR) within each diagnosis the filters leave (a diagnosis
    with no patient in either arm is left out, as in the forest plot)."""
    sub = by_dx[(by_dx["endpoint"] == endpoint) & ((by_dx[f"{ARMS[0]}_n"] + by_dx[f"{ARMS[1]}_n"]) > 0)]
    labels = [DIAGNOSIS_LABELS[d] for d in sub["diagnosis"]]
    per_arm = {arm: list(zip(sub[f"{arm}_rate"], sub[f"{arm}_ci_low"], sub[f"{arm}_ci_high"], sub[f"{arm}_events"],
                             sub[f"{arm}_n"])) for arm in ARMS}
    p_texts = [p_value(p) if not reason else reason for p, reason in zip(sub["p_value"], sub["reason"])]
    return _layout(_rate_bars(go.Figure(), labels, per_arm, p_texts), title, height=480)


def _step(curve: KMCurve, column: str) -> tuple[np.ndarray, np.ndarray]:
    t = curve.table["time"].to_numpy(float)
    v = curve.table[column].to_numpy(float)
    return t, v


# Censor marks per arm at most: a mark per censored time crowds a large cohort's curve into a
# solid band (100,000 patients: tens of thousands of times), so beyond this each 1/CENSOR_STRETCHES
# of the time axis where someone was censored gets one mark, at its first censored time, its
# hover saying how many were censored in that stretch.
MAX_CENSOR_MARKS = 300
CENSOR_STRETCHES = 80


def _censor_marks(table: pd.DataFrame, axis_end: float) -> tuple[pd.DataFrame, bool]:
    """time, survival, censored of the censored times of a KM table, thinned as MAX_CENSOR_MARKS
    says, and whether they were thinned."""
    cens = table.loc[table["censored"] > 0, ["time", "survival", "censored"]]
    if len(cens) <= MAX_CENSOR_MARKS:
        return cens, False
    stretch = np.minimum((cens["time"].to_numpy(float) / axis_end * CENSOR_STRETCHES).astype(int), CENSOR_STRETCHES - 1)
    first = cens.groupby(stretch, sort=True).agg(time=("time", "first"), survival=("survival", "first"),
                                                   censored=("censored", "sum"))
    return first.reset_index(drop=True), True


def _km_panel(comparison: ArmComparison, col: int, columns: int, ticks: tuple[float, ...], *, show_ci: bool,
              cumulative: bool, legend: bool, counts_in_legend: bool = False,
              font_size: int = 13) -> tuple[list[dict], dict, list[dict], list[dict]]:
    """One Kaplan–Meier panel in column `col` of `columns`: per arm the CI band, the curve, censor
    marks and the median line (row 1), the number at risk at each tick (row 2), and the log-rank p
    and the hazard ratio in the corner. Returned as traces, axis settings, shapes and annotations,
    which the caller adds to the figure at once: added one by one, with Plotly's row/col lookup,
    the split figure took 105 ms to build."""
    flip = (lambda v: 1 - v) if cumulative else (lambda v: v)
    top, bottom = (str(col) if col > 1 else ""), str(columns + col)  # row-major subplot axes
    on_top, below = dict(xaxis=f"x{top}", yaxis=f"y{top}"), dict(xaxis=f"x{bottom}", yaxis=f"y{bottom}")
    traces: list[dict] = []
    for j, arm in enumerate(ARMS):
        curve = comparison.curves[arm]
        color = ARM_COLORS[arm]
        if curve.n:
            t, s = _step(curve, "survival")
            if show_ci:
                _, lo = _step(curve, "ci_low")
                _, hi = _step(curve, "ci_high")
                lo, hi = np.where(np.isnan(lo), s, lo), np.where(np.isnan(hi), s, hi)
                # mode="lines": with fewer than 20 points Plotly would also draw markers, in its own colours.
                traces.append(dict(type="scatter", x=np.r_[t, t[::-1]], y=100 * np.r_[flip(hi), flip(lo)[::-1]],
                                   fill="toself", mode="lines", line_shape="hv", fillcolor=ARM_FILL[arm],
                                   line=dict(width=0), hoverinfo="skip", showlegend=False, **on_top))
            traces.append(dict(type="scatter", x=t, y=100 * flip(s), mode="lines", line_shape="hv",
                               line=dict(color=color, width=2.5), legendgroup=arm, showlegend=legend,
                               name=f"{ARM_LABELS[arm]} (n = {curve.n:,}, events = {curve.events:,})" if counts_in_legend
                               else ARM_LABELS[arm],
                               hovertemplate="%{x:.1f} months: %{y:.1f}%<extra>" + ARM_LABELS[arm] + "</extra>", **on_top))
            cens, thinned = _censor_marks(curve.table, ticks[-1])
            if len(cens):
                traces.append(dict(type="scatter", x=cens["time"].to_numpy(float),
                                   y=100 * flip(cens["survival"].to_numpy(float)), mode="markers",
                                   marker=dict(symbol="line-ns-open", size=9, color=color), showlegend=False,
                                   customdata=cens["censored"].to_numpy(int),
                                   hovertemplate="%{customdata:,} censored at %{x:.1f} months<extra></extra>"
                                   if not thinned else
                                   "%{customdata:,} censored in the stretch from %{x:.1f} months<extra></extra>", **on_top))
            if not missing(curve.median):
                traces.append(dict(type="scatter", x=[curve.median, curve.median], y=[0, 50], mode="lines",
                                   line=dict(color=color, dash="dot", width=1.5), showlegend=False,
                                   hovertemplate=f"median {curve.median:.1f} months<extra></extra>", **on_top))
        # Number at risk at the ticks the axis shows (R: summary(survfit, times = ticks)$n.risk).
        traces.append(dict(type="scatter", x=list(ticks), y=[1 - j] * len(ticks), mode="text",
                           text=[f"{n:,}" for n in curve.at_risk_at(ticks)], textfont=dict(color=color, size=font_size),
                           showlegend=False, hoverinfo="skip", **below))
    shapes = []
    if any(comparison.curves[a].n for a in ARMS):
        shapes.append(dict(type="line", xref=f"x{top} domain", yref=f"y{top}", x0=0, x1=1, y0=50, y1=50,
                           line=dict(color="#999", dash="dot", width=1)))
    pad = 0.06 * ticks[-1]  # room for the first at-risk number left of 0 and the last one right of the end
    first = col == 1
    axes = {
        f"xaxis{top}": dict(tickvals=list(ticks), range=[-pad, ticks[-1] + pad], showticklabels=True),
        f"xaxis{bottom}": dict(tickvals=list(ticks), range=[-pad, ticks[-1] + pad], showticklabels=False,
                               showgrid=False, zeroline=False),
        f"yaxis{top}": dict(range=[0, 103]),
        f"yaxis{bottom}": dict(range=[-0.6, 1.6], showgrid=False, zeroline=False, tickvals=[1, 0] if first else [],
                               ticktext=[ARM_LABELS[a] for a in ARMS] if first else []),
    }
    lr = comparison.logrank
    hr = comparison.hazard
    lines = [f"log-rank: {lr.reason}" if lr.reason else f"log-rank {p_value(lr.p_value)}",
             f"HR: {hr.reason}" if missing(hr.hazard_ratio) else
             f"HR {hr.hazard_ratio:.2f} (95% CI {hr.ci[0]:.2f}–{hr.ci[1]:.2f}),<br>tacrolimus vs steroid alone"]
    notes = [dict(xref=f"x{top} domain", yref=f"y{top} domain", x=0.99, y=0.04, xanchor="right", yanchor="bottom",
                  showarrow=False, align="right", text="<br>".join(lines), bgcolor="rgba(255,255,255,0.85)",
                  font=dict(size=font_size))]
    return traces, axes, shapes, notes


@functools.lru_cache(maxsize=8)
def _km_grid(columns: int, titles: tuple[str, ...] = ()) -> dict:
    """The layout of `columns` Kaplan–Meier panels over their at-risk rows (axes, domains, panel
    titles), made once per shape: make_subplots costs 7–13 ms a call."""
    return make_subplots(rows=2, cols=columns, shared_xaxes="columns", row_heights=[0.8, 0.2], vertical_spacing=0.1,
                         horizontal_spacing=0.06, subplot_titles=(list(titles) + [""] * columns) if titles else None
                         ).layout.to_plotly_json()


def _km_figure(panels: list[tuple[list[dict], dict, list[dict], list[dict]]], titles: tuple[str, ...], extra: dict,
               title: str, height: int) -> go.Figure:
    """The panels' traces, axes, shapes and annotations and the shared look, built as one figure:
    added one by one the split figure took 105 ms; built at once, about 30."""
    grid = _km_grid(len(panels), titles)
    layout = _merge(grid, _layout_dict(title, height, [k for k in grid if k.startswith(("xaxis", "yaxis"))]))
    for _, axes, _, _ in panels:
        layout = _merge(layout, axes)
    layout = _merge(layout, extra)
    layout["shapes"] = [s for *_, shapes, _ in panels for s in shapes]
    layout["annotations"] = list(grid.get("annotations", [])) + [n for *_, notes in panels for n in notes]
    return go.Figure(data=[t for traces, *_ in panels for t in traces], layout=layout)


def km(comparison: ArmComparison, title: str, y_title: str, *, show_ci: bool = True, cumulative: bool = False,
       x_title: str = "Months since response", risk_times: tuple[float, ...] | None = None) -> go.Figure:
    """Kaplan–Meier curves per arm: CI bands, censor marks, median lines, the number at risk under
    the time axis at its ticks, and log-rank p and HR (95% CI) on the figure. The axis runs a little
    past the last event (`survival.time_ticks`) unless `risk_times` sets the ticks. `cumulative`
    plots 1 − S (e.g. the share who have stopped steroids)."""
    ticks = tuple(risk_times) if risk_times else time_ticks(list(comparison.curves.values()))
    panel = _km_panel(comparison, 1, 1, ticks, show_ci=show_ci, cumulative=cumulative, legend=True)
    return _km_figure([panel], (), {"yaxis": dict(title=dict(text=y_title)), "xaxis": dict(title=dict(text=x_title)),
                                    "yaxis2": dict(title=dict(text="At risk", font=dict(size=12)))}, title, 560)


def km_by_diagnosis(comparisons: dict[str, ArmComparison], title: str, y_title: str, *, show_ci: bool = True,
                    x_title: str = "Months since response") -> go.Figure:
    """Small multiples: one Kaplan–Meier panel per diagnosis with the same time axis, each with its
    censor marks, number at risk, log-rank p and hazard ratio."""
    names = list(comparisons)
    ticks = time_ticks([c for comp in comparisons.values() for c in comp.curves.values()])
    panels = [_km_panel(comparisons[name], col, len(names), ticks, show_ci=show_ci, cumulative=False,
                        legend=col == 1, font_size=12) for col, name in enumerate(names, start=1)]
    extra = {f"xaxis{col if col > 1 else ''}": dict(title=dict(text=x_title)) for col in range(1, len(names) + 1)}
    extra["yaxis"] = dict(title=dict(text=y_title))
    extra[f"yaxis{len(names) + 1}"] = dict(title=dict(text="At risk", font=dict(size=12)))
    # The legend goes under the figure: above it, it would sit on the panels' titles.
    extra["legend"] = dict(orientation="h", yanchor="top", y=-0.12, xanchor="left", x=0)
    extra["margin"] = dict(l=70, r=30, t=80, b=110)
    return _km_figure(panels, tuple(DIAGNOSIS_LABELS.get(n, n) for n in names), extra, title, 600)


FOREST_TICKS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


def forest(subgroups: pd.DataFrame, title: str = "Hazard ratio of relapse by subgroup") -> go.Figure:
    """Forest plot of the Cox hazard ratio (tacrolimus vs steroid alone) per subgroup, as in a
    paper: a row per subgroup the filters leave (the overall row first, as a diamond), the hazard
    ratio and its 95% CI on a log axis from 0.05 to 20 (a limit beyond it ends in an arrow), and
    beside it relapses/patients per arm and the HR (95% CI) as text — or why it cannot be
    estimated."""
    table = subgroup_table(subgroups)
    df = subgroups.loc[table.index]
    labels = list(table["Subgroup"])
    lo_edge, hi_edge = FOREST_TICKS[0], FOREST_TICKS[-1]
    fig = go.Figure()
    ok = df["hazard_ratio"].notna().to_numpy()
    overall = (df["group"] == "All patients").to_numpy()
    hr = df["hazard_ratio"].clip(lo_edge, hi_edge).to_numpy(float)
    lo = df["ci_low"].clip(lo_edge, hi_edge).to_numpy(float)
    hi = df["ci_high"].clip(lo_edge, hi_edge).to_numpy(float)
    for sel, symbol, size in ((ok & ~overall, "square", 11), (ok & overall, "diamond", 15)):
        if sel.any():
            fig.add_scatter(
                x=hr[sel], y=[labels[k] for k in np.flatnonzero(sel)], mode="markers",
                marker=dict(symbol=symbol, size=size, color=ARM_COLORS[ARM_TACROLIMUS]),
                error_x=dict(type="data", symmetric=False, array=hi[sel] - hr[sel], arrayminus=hr[sel] - lo[sel],
                             color="#333", width=0),
                customdata=np.c_[table["HR (95% CI)"].to_numpy()[sel]], showlegend=False,
                hovertemplate="%{y}: HR %{customdata[0]}<extra></extra>")
    # Arrows where a confidence limit runs off the axis.
    for side, limit, edge, symbol in (("low", df["ci_low"], lo_edge, "triangle-left"),
                                       ("high", df["ci_high"], hi_edge, "triangle-right")):
        off = ok & ((limit < edge) if side == "low" else (limit > edge)).to_numpy()
        if off.any():
            fig.add_scatter(x=[edge] * int(off.sum()), y=[labels[k] for k in np.flatnonzero(off)], mode="markers",
                            marker=dict(symbol=symbol, size=10, color="#333"), hoverinfo="skip", showlegend=False)
    fig.update_layout(shapes=[dict(type="line", xref="x", yref="paper", x0=1, x1=1, y0=0, y1=1,
                                   line=dict(color="#666", dash="dash"))])
    # The text columns to the right of the plot (placed in pixels from its right edge, so they do
    # not move with the figure's width), with their headers above the first row.
    columns = [("Tacrolimus<br>relapses/n", table[ARM_LABELS[ARM_TACROLIMUS]], 14),
               ("Steroid alone<br>relapses/n", table[ARM_LABELS[ARM_CONTROL]], 104),
               ("HR (95% CI)", table["HR (95% CI)"], 194)]
    notes = []  # added at once: one add_annotation per cell took 2 ms each
    for header, values, shift in columns:
        notes.append(dict(xref="paper", yref="paper", x=1, xshift=shift, y=1.0, yanchor="bottom", xanchor="left",
                          showarrow=False, text=f"<b>{header}</b>", font=dict(size=12), align="left"))
        for label, value in zip(labels, values):
            note = value.startswith("not estimable")
            notes.append(dict(xref="paper", yref="y", x=1, xshift=shift, y=label, xanchor="left", showarrow=False,
                              align="left", text=value.replace(": ", ":<br>", 1) if note else value,
                              font=dict(size=11 if note else 13, color="#555" if note else "#222")))
    fig.update_layout(annotations=notes)
    fig.update_xaxes(type="log", range=[np.log10(lo_edge) - 0.05, np.log10(hi_edge) + 0.05],
                     tickvals=list(FOREST_TICKS), ticktext=[f"{t:g}" for t in FOREST_TICKS],
                     title="Hazard ratio, tacrolimus vs steroid alone<br>(log scale; < 1 favours tacrolimus)")
    fig.update_yaxes(categoryorder="array", categoryarray=labels[::-1], title="",
                     tickvals=labels, ticktext=[f"<b>{v}</b>" if v == "All patients" else v for v in labels])
    fig = _layout(fig, title, height=170 + 38 * len(labels))
    fig.update_layout(margin=dict(l=70, r=420, t=90, b=80), showlegend=False)
    return fig


def dose_curve(curve: pd.DataFrame, title: str = "Daily prednisone-equivalent dose", show_iqr: bool = True,
               courses: pd.DataFrame | None = None) -> go.Figure:
    """Median daily dose by arm over time with an IQR band; optional faint individual courses."""
    fig = go.Figure()
    if courses is not None and len(courses):
        for (arm, pid), c in courses.groupby(["arm", "patient_id"], sort=False):
            fig.add_scatter(x=c["months"], y=c["dose"], mode="lines", line_shape="hv",
                            line=dict(color=ARM_COLORS[arm], width=0.8), opacity=0.25, hoverinfo="skip", showlegend=False)
    for arm in ARMS:
        c = curve[(curve["arm"] == arm) & (curve["followed"] > 0)]
        if show_iqr:
            fig.add_scatter(x=np.r_[c["months"], c["months"][::-1]], y=np.r_[c["q3"], c["q1"][::-1]], fill="toself",
                            fillcolor=ARM_FILL[arm], line=dict(width=0), hoverinfo="skip", showlegend=False)
        fig.add_scatter(x=c["months"], y=c["median"], mode="lines", line=dict(color=ARM_COLORS[arm], width=2.5),
                        name=ARM_LABELS[arm], customdata=np.c_[c["q1"], c["q3"], c["followed"]],
                        hovertemplate="%{x:.1f} months: median %{y:.1f} mg (IQR %{customdata[0]:.1f}–%{customdata[1]:.1f}; "
                                      "n = %{customdata[2]})<extra>" + ARM_LABELS[arm] + "</extra>")
    fig.update_xaxes(title="Months since treatment start")
    fig.update_yaxes(title="Prednisone-equivalent dose (mg/day)", rangemode="tozero")
    return _layout(fig, title)


# Points drawn one by one up to this many per figure trace: beyond, a browser takes seconds to
# minutes per figure (a 100,000-patient cohort's cumulative doses drawn point by point held the
# Steroid taper page for a minute). Boxes and summaries always count every patient.
MAX_POINTS = 5_000
MAX_SCATTER_POINTS = 20_000


def by_arm_box(values: pd.DataFrame, column: str, y_title: str, title: str, p: float | None) -> go.Figure:
    """Box plot of one continuous value by arm, every patient's point drawn while an arm has at
    most MAX_POINTS (beyond, the outliers only), and the Mann–Whitney p."""
    fig = go.Figure()
    for arm in ARMS:
        v = values.loc[values["arm"] == arm, column].dropna()
        points = "all" if len(v) <= MAX_POINTS else "outliers"
        fig.add_box(y=v, name=ARM_LABELS[arm], marker_color=ARM_COLORS[arm], boxpoints=points, jitter=0.4,
                    pointpos=0, marker=dict(size=4, opacity=0.45), line=dict(width=2), showlegend=False)
    fig.add_annotation(xref="paper", yref="paper", x=0.5, y=1.02, showarrow=False, text=f"Mann–Whitney U, {p_value(p)}")
    fig.update_yaxes(title=y_title, rangemode="tozero")
    return _layout(fig, title)


def troughs(tac: pd.DataFrame, target: tuple[float, float] = TACROLIMUS_TROUGH_TARGET,
            title: str = "Tacrolimus trough levels") -> go.Figure:
    """Trough levels over months since treatment start against the target band."""
    fig = go.Figure()
    band = "rgba(0,158,115,0.18)"
    fig.add_hrect(y0=target[0], y1=target[1], fillcolor=band, line_width=0)
    name = "trough level"
    if len(tac) > MAX_SCATTER_POINTS:  # a random sample drawn, said in the legend; the summary counts all
        name = f"trough level (a random {MAX_SCATTER_POINTS:,} of {len(tac):,})"
        tac = tac.sample(MAX_SCATTER_POINTS, random_state=0).sort_index()
    fig.add_scatter(x=tac["months"], y=tac["trough_ng_ml"], mode="markers",
                    marker=dict(color=ARM_COLORS[ARM_TACROLIMUS], size=5, opacity=0.45), name=name,
                    hovertemplate="%{x:.1f} months: %{y:.1f} ng/mL<extra></extra>")
    # The band is named in the legend: a label on the band would sit under the points.
    fig.add_scatter(x=[None], y=[None], mode="markers", marker=dict(symbol="square", size=14, color=band),
                    name=f"target {target_range(target)}")
    fig.update_xaxes(title="Months since treatment start")
    fig.update_yaxes(title="Trough (ng/mL)", rangemode="tozero")
    return _layout(fig, title)


def ae_diverging(by_term: pd.DataFrame, title: str = "Adverse events by term") -> go.Figure:
    """Share of patients with each term: tacrolimus to the left, control to the right."""
    df = by_term.assign(total=by_term["tacrolimus_rate"] + by_term["control_rate"]).sort_values("total")
    label = [f"{t} ({c})" for t, c in zip(df["term"], df["category"])]
    fig = go.Figure()
    fig.add_bar(y=label, x=-100 * df["tacrolimus_rate"], orientation="h", name=ARM_LABELS[ARM_TACROLIMUS],
                marker_color=ARM_COLORS[ARM_TACROLIMUS], customdata=np.c_[100 * df["tacrolimus_rate"], df["tacrolimus_patients"]],
                hovertemplate="%{y}: %{customdata[0]:.1f}% (%{customdata[1]} patients)<extra></extra>")
    fig.add_bar(y=label, x=100 * df["control_rate"], orientation="h", name=ARM_LABELS[ARM_CONTROL],
                marker_color=ARM_COLORS[ARM_CONTROL], customdata=np.c_[100 * df["control_rate"], df["control_patients"]],
                hovertemplate="%{y}: %{customdata[0]:.1f}% (%{customdata[1]} patients)<extra></extra>")
    top = max(5.0, float(100 * df[["tacrolimus_rate", "control_rate"]].max().max()) if len(df) else 5.0)
    ticks = np.linspace(-top, top, 5)
    fig.update_xaxes(title="Patients with the event (%)", range=[-top * 1.1, top * 1.1], tickvals=ticks,
                     ticktext=[f"{abs(v):,.0f}" for v in ticks])
    fig.update_layout(barmode="relative")
    return _layout(fig, title, height=140 + 26 * len(df))


def export_config(view: str, filters_text: str, fmt: str = "png") -> dict:
    """Plotly toolbar download: PNG at 2× (or SVG) with a file name that says the view and the filters."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "scale": 2,
                                                           "filename": file_stem(view, filters_text)},
            "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def love_plot(balance: pd.DataFrame, title: str = "Covariate balance before and after weighting") -> go.Figure:
    """Absolute standardised mean difference of each covariate before (open circle) and after
    (filled) weighting, with the usual 0.1 threshold."""
    df = balance.dropna(subset=["smd_before"]).iloc[::-1]
    fig = go.Figure()
    fig.add_scatter(x=df["smd_before"].abs(), y=df["label"], mode="markers", name="before weighting",
                    marker=dict(symbol="circle-open", size=11, color="#666666", line=dict(width=2)))
    fig.add_scatter(x=df["smd_after"].abs(), y=df["label"], mode="markers", name="after weighting (IPTW)",
                    marker=dict(symbol="circle", size=11, color=ARM_COLORS[ARM_TACROLIMUS]))
    top = max(0.25, float(df[["smd_before", "smd_after"]].abs().max().max()) * 1.1) if len(df) else 0.25
    fig.update_layout(shapes=[dict(type="line", xref="x", yref="paper", x0=0.1, x1=0.1, y0=0, y1=1,
                                   line=dict(color="#999", dash="dash"))])
    fig.update_xaxes(title="|SMD| (dashed line: 0.1)", range=[0, top])
    fig.update_yaxes(title="")
    fig = _layout(fig, title, height=140 + 34 * len(df))
    fig.update_layout(margin_l=230)
    return fig


def overlap(scores: pd.Series, treated: pd.Series, title: str = "Propensity score by arm") -> go.Figure:
    """Mirrored histograms of the propensity score: tacrolimus above the axis, control below.
    Where one arm has patients and the other none, there is no overlap to compare within."""
    bins = np.linspace(0, 1, 26)
    fig = go.Figure()
    for arm, sign in ((ARM_TACROLIMUS, 1), (ARM_CONTROL, -1)):
        mask = np.asarray(treated, bool) if arm == ARM_TACROLIMUS else ~np.asarray(treated, bool)
        counts, _ = np.histogram(np.asarray(scores, float)[mask], bins=bins)
        fig.add_bar(x=(bins[:-1] + bins[1:]) / 2, y=sign * counts, width=0.038, name=ARM_LABELS[arm],
                    marker_color=ARM_COLORS[arm], customdata=counts,
                    hovertemplate="score %{x:.2f}: %{customdata} patients<extra>" + ARM_LABELS[arm] + "</extra>")
    top = max(1, int(np.abs([v for t in fig.data for v in t.y]).max()))
    ticks = [v for v in np.linspace(-top, top, 5)]
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title="Propensity score (probability of tacrolimus given the covariates)", range=[0, 1])
    fig.update_yaxes(title="Patients (control below)", tickvals=ticks, ticktext=[f"{abs(v):,.0f}" for v in ticks])
    return _layout(fig, title)


def adjusted_estimates(rows: list[dict], title: str = "Crude and adjusted estimates, tacrolimus vs steroid alone") -> go.Figure:
    """A small forest plot: per endpoint the crude, IPTW and multivariable estimate (odds ratio or
    hazard ratio, log scale) with its 95% CI; rows without an estimate carry their reason.
    `rows`: endpoint, method, estimate, low, high, reason."""
    df = pd.DataFrame(rows)
    labels = [f"{e} — {m}" for e, m in zip(df["endpoint"], df["method"])]
    ok = df["estimate"].notna() & np.isfinite(df["estimate"].astype(float))
    fig = go.Figure()
    colors = {"crude": "#666666", "IPTW": ARM_COLORS[ARM_TACROLIMUS], "multivariable": "#009E73"}
    for method, color in colors.items():
        sel = ok & (df["method"] == method)
        if sel.any():
            fig.add_scatter(x=df.loc[sel, "estimate"], y=[labels[i] for i in df.index[sel]], mode="markers", name=method,
                            marker=dict(symbol="square", size=11, color=color),
                            error_x=dict(type="data", symmetric=False, color=color,
                                         array=df.loc[sel, "high"] - df.loc[sel, "estimate"],
                                         arrayminus=df.loc[sel, "estimate"] - df.loc[sel, "low"]))
    fig.update_layout(shapes=[dict(type="line", xref="x", yref="paper", x0=1, x1=1, y0=0, y1=1,
                                   line=dict(color="#666", dash="dash"))],
                      annotations=[dict(x=0, xref="paper", y=labels[i], xanchor="left", showarrow=False,
                                        text=f"not estimable: {df.loc[i, 'reason']}", font=dict(size=12, color="#555"))
                                   for i in df.index[~ok]])
    fig.update_xaxes(type="log", title="Odds ratio (response) or hazard ratio (events), log scale",
                     tickvals=[0.1, 0.2, 0.5, 1, 2, 5, 10], ticktext=["0.1", "0.2", "0.5", "1", "2", "5", "10"])
    fig.update_yaxes(categoryorder="array", categoryarray=labels[::-1], title="")
    fig = _layout(fig, title, height=170 + 34 * len(labels))
    fig.update_layout(margin_l=260)
    return fig


def weighted_curves(weighted: dict, crude: ArmComparison, title: str, y_title: str = "Relapse-free (%)",
                    x_title: str = "Months since response") -> go.Figure:
    """Weighted Kaplan–Meier curves per arm (IPTW), with the crude curves faint behind them."""
    fig = go.Figure()
    for arm in ARMS:
        c = crude.curves[arm]
        if c.n:
            fig.add_scatter(x=c.table["time"], y=100 * c.table["survival"], mode="lines", line_shape="hv",
                            line=dict(color=ARM_COLORS[arm], width=1.5, dash="dot"), opacity=0.45,
                            name=f"{ARM_LABELS[arm]}, crude", hoverinfo="skip",
                            showlegend=False)  # the title says "crude dotted": two legend entries fit a half-width figure
        w = weighted.get(arm)
        if w is not None and len(w):
            fig.add_scatter(x=w["time"], y=100 * w["survival"], mode="lines", line_shape="hv",
                            line=dict(color=ARM_COLORS[arm], width=2.8), name=ARM_LABELS[arm],
                            hovertemplate="%{x:.1f} months: %{y:.1f}%<extra>" + ARM_LABELS[arm] + "</extra>")
    fig.update_xaxes(title=x_title, rangemode="tozero")
    fig.update_yaxes(title=y_title, range=[0, 103])
    return _layout(fig, title, height=480)
