"""Plotly figure builders: results in, go.Figure out. Same arm colours everywhere (Okabe–Ito,
colour-blind safe), axis titles with units, no Streamlit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .format import missing, p_value, target_range
from .proportions import Comparison
from .schema import ARM_CONTROL, ARM_LABELS, ARM_TACROLIMUS, ARMS, DIAGNOSIS_LABELS, TACROLIMUS_TROUGH_TARGET
from .survival import ArmComparison, KMCurve

ARM_COLORS = {ARM_TACROLIMUS: "#0072B2", ARM_CONTROL: "#E69F00"}  # Okabe–Ito blue and orange
ARM_FILL = {ARM_TACROLIMUS: "rgba(0,114,178,0.15)", ARM_CONTROL: "rgba(230,159,0,0.18)"}
RESPONSE_COLORS = {"CR": "#009E73", "R/PR": "#56B4E9", "NR": "#BBBBBB"}
FONT = dict(family="Source Sans Pro, Arial, sans-serif", size=14)


def _layout(fig: go.Figure, title: str, height: int = 460) -> go.Figure:
    # No template here: the dashboard draws figures with Streamlit's theme, which replaces a
    # template's background, grid and fonts (plotly_white and plotly look the same there), and
    # assigning one costs ~7 ms of validation per figure — 38% of a page's render time.
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=17)),
        font=FONT, height=height, margin=dict(l=70, r=30, t=60, b=60),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
    )
    return fig


def rates(comparisons: dict[str, Comparison], title: str = "Best response by arm") -> go.Figure:
    """Grouped bars of rates per arm with Wilson 95% CI error bars."""
    fig = go.Figure()
    labels = list(comparisons)
    for arm in ARMS:
        props = [comparisons[k].a if arm == ARM_TACROLIMUS else comparisons[k].b for k in labels]
        y = [100 * p.rate if not missing(p.rate) else None for p in props]
        fig.add_bar(
            name=ARM_LABELS[arm], x=labels, y=y, marker_color=ARM_COLORS[arm],
            error_y=dict(type="data", symmetric=False,
                         array=[None if missing(p.rate) else 100 * (p.ci_high - p.rate) for p in props],
                         arrayminus=[None if missing(p.rate) else 100 * (p.rate - p.ci_low) for p in props]),
            text=[f"{p.events}/{p.n}" for p in props], textposition="inside", insidetextanchor="start",
            hovertemplate="%{x}: %{y:.1f}% (%{text})<extra>" + ARM_LABELS[arm] + "</extra>",
        )
    for i, k in enumerate(labels):
        c = comparisons[k]
        fig.add_annotation(x=k, y=105, text=p_value(c.p_value), showarrow=False, font=dict(size=13))
    fig.update_yaxes(title="Patients (%)", range=[0, 112])
    fig.update_layout(barmode="group")
    return _layout(fig, title)


def response_distribution(distribution: pd.DataFrame, title: str = "Best response") -> go.Figure:
    """Stacked bars (CR / R·PR / NR) per arm, as shares."""
    fig = go.Figure()
    for response in ("CR", "R/PR", "NR"):
        sub = distribution[distribution["response"] == response].set_index("arm").reindex(list(ARMS))
        fig.add_bar(name=response, x=[ARM_LABELS[a] for a in ARMS], y=100 * sub["share"],
                    marker_color=RESPONSE_COLORS[response], text=sub["patients"], textposition="inside",
                    hovertemplate="%{x}: %{y:.1f}% (%{text} patients)<extra>" + response + "</extra>")
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title="Patients (%)", range=[0, 100])
    return _layout(fig, title)


def rates_by_diagnosis(by_dx: pd.DataFrame, endpoint: str, title: str) -> go.Figure:
    sub = by_dx[by_dx["endpoint"] == endpoint]
    fig = go.Figure()
    for arm in ARMS:
        rate = 100 * sub[f"{arm}_rate"]
        fig.add_bar(
            name=ARM_LABELS[arm], x=[DIAGNOSIS_LABELS[d] for d in sub["diagnosis"]], y=rate, marker_color=ARM_COLORS[arm],
            error_y=dict(type="data", symmetric=False, array=100 * sub[f"{arm}_ci_high"] - rate,
                         arrayminus=rate - 100 * sub[f"{arm}_ci_low"]),
            text=[f"{e}/{n}" for e, n in zip(sub[f"{arm}_events"], sub[f"{arm}_n"])], textposition="inside",
            insidetextanchor="start",
        )
    for _, row in sub.iterrows():
        fig.add_annotation(x=DIAGNOSIS_LABELS[row["diagnosis"]], y=105, showarrow=False, font=dict(size=13),
                           text=p_value(row["p_value"]) if not row["reason"] else row["reason"])
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="Patients (%)", range=[0, 112])
    return _layout(fig, title)


def _step(curve: KMCurve, column: str) -> tuple[np.ndarray, np.ndarray]:
    t = curve.table["time"].to_numpy(float)
    v = curve.table[column].to_numpy(float)
    return t, v


def km(comparison: ArmComparison, title: str, y_title: str, *, show_ci: bool = True, cumulative: bool = False,
       x_title: str = "Months since response", risk_times: tuple[float, ...] | None = None) -> go.Figure:
    """Kaplan–Meier curves per arm: CI bands, censor marks, median lines, number-at-risk table
    under the time axis, and log-rank p and HR (95% CI) on the figure. `cumulative` plots 1 − S
    (e.g. the share who have stopped steroids)."""
    times = tuple(comparison.at_risk.columns) if risk_times is None else risk_times
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.8, 0.2], vertical_spacing=0.1)
    flip = (lambda v: 1 - v) if cumulative else (lambda v: v)
    max_t = 0.0
    for arm in ARMS:
        curve = comparison.curves[arm]
        if curve.n == 0:
            continue
        t, s = _step(curve, "survival")
        max_t = max(max_t, float(t.max()))
        color = ARM_COLORS[arm]
        if show_ci:
            _, lo = _step(curve, "ci_low")
            _, hi = _step(curve, "ci_high")
            lo = np.where(np.isnan(lo), s, lo)
            hi = np.where(np.isnan(hi), s, hi)
            band_a, band_b = (flip(hi), flip(lo))
            fig.add_scatter(x=np.r_[t, t[::-1]], y=100 * np.r_[band_a, band_b[::-1]], fill="toself", line_shape="hv",
                            fillcolor=ARM_FILL[arm], line=dict(width=0), hoverinfo="skip", showlegend=False, row=1, col=1)
        fig.add_scatter(x=t, y=100 * flip(s), mode="lines", line_shape="hv", line=dict(color=color, width=2.5),
                        name=f"{ARM_LABELS[arm]} (n = {curve.n}, events = {curve.events})",
                        hovertemplate="%{x:.1f} months: %{y:.1f}%<extra>" + ARM_LABELS[arm] + "</extra>", row=1, col=1)
        cens = curve.table[curve.table["censored"] > 0]
        if len(cens):
            fig.add_scatter(x=cens["time"], y=100 * flip(cens["survival"].to_numpy(float)), mode="markers",
                            marker=dict(symbol="line-ns-open", size=9, color=color), showlegend=False,
                            hovertemplate="censored at %{x:.1f} months<extra></extra>", row=1, col=1)
        if not missing(curve.median):
            fig.add_scatter(x=[curve.median, curve.median], y=[0, 50], mode="lines",
                            line=dict(color=color, dash="dot", width=1.5), showlegend=False,
                            hovertemplate=f"median {curve.median:.1f} months<extra></extra>", row=1, col=1)
    if any(comparison.curves[a].n for a in ARMS):
        fig.add_hline(y=50, line=dict(color="#999", dash="dot", width=1), row=1, col=1)
    # Number at risk, aligned with the time axis.
    visible = [m for m in times if m <= max(max_t, times[0])]
    for j, arm in enumerate(ARMS):
        counts = [int(v) for m, v in zip(comparison.at_risk.columns, comparison.at_risk.loc[arm]) if m in visible]
        fig.add_scatter(x=visible, y=[1 - j] * len(visible), mode="text", text=[str(c) for c in counts],
                        textfont=dict(color=ARM_COLORS[arm], size=13), showlegend=False, hoverinfo="skip", row=2, col=1)
    fig.update_yaxes(row=2, col=1, range=[-0.6, 1.6], tickvals=[1, 0], ticktext=[ARM_LABELS[a] for a in ARMS],
                     showgrid=False, zeroline=False, title=dict(text="At risk", font=dict(size=12)))
    fig.update_yaxes(row=1, col=1, title=y_title, range=[0, 103])
    right = max(visible[-1] if visible else 1.0, max_t)
    pad = 0.05 * right  # room for the first at-risk number left of 0
    fig.update_xaxes(row=2, col=1, tickvals=list(visible), showticklabels=False, range=[-pad, right + pad / 2])
    fig.update_xaxes(row=1, col=1, tickvals=list(visible), showticklabels=True, title=x_title)
    hr = comparison.hazard
    hr_text = (f"HR {hr.hazard_ratio:.2f} (95% CI {hr.ci[0]:.2f}–{hr.ci[1]:.2f})" if not missing(hr.hazard_ratio)
               else f"HR: {hr.reason}")
    lr_text = p_value(comparison.logrank.p_value).replace("p", "log-rank p", 1) if not comparison.logrank.reason else f"log-rank: {comparison.logrank.reason}"
    fig.add_annotation(xref="x domain", yref="y domain", x=0.99, y=0.04, xanchor="right", yanchor="bottom",
                       showarrow=False, align="right",
                       text=f"{lr_text}<br>{hr_text}", bgcolor="rgba(255,255,255,0.85)", font=dict(size=13))
    return _layout(fig, title, height=560)


def km_by_diagnosis(comparisons: dict[str, ArmComparison], title: str, y_title: str, *, show_ci: bool = True,
                    x_title: str = "Months since response") -> go.Figure:
    """Small multiples: one KM panel per diagnosis, same axes."""
    names = list(comparisons)
    fig = make_subplots(rows=1, cols=len(names), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[f"{DIAGNOSIS_LABELS.get(n, n)} — {p_value(comparisons[n].logrank.p_value)}" for n in names])
    for j, name in enumerate(names, start=1):
        for arm in ARMS:
            curve = comparisons[name].curves[arm]
            if curve.n == 0:
                continue
            t, s = _step(curve, "survival")
            if show_ci:
                _, lo = _step(curve, "ci_low")
                _, hi = _step(curve, "ci_high")
                lo, hi = np.where(np.isnan(lo), s, lo), np.where(np.isnan(hi), s, hi)
                fig.add_scatter(x=np.r_[t, t[::-1]], y=100 * np.r_[hi, lo[::-1]], fill="toself", line_shape="hv",
                                fillcolor=ARM_FILL[arm], line=dict(width=0), hoverinfo="skip", showlegend=False, row=1, col=j)
            fig.add_scatter(x=t, y=100 * s, mode="lines", line_shape="hv", line=dict(color=ARM_COLORS[arm], width=2.2),
                            name=ARM_LABELS[arm], legendgroup=arm, showlegend=j == 1, row=1, col=j)
        fig.update_xaxes(title=x_title, row=1, col=j)
    fig.update_yaxes(title=y_title, range=[0, 103], row=1, col=1)
    return _layout(fig, title, height=430)


def forest(subgroups: pd.DataFrame, title: str = "Hazard ratio of relapse by subgroup") -> go.Figure:
    """Forest plot of the Cox HR (tacrolimus vs control) per subgroup, log scale."""
    df = subgroups.iloc[::-1].reset_index(drop=True)
    labels = [f"{g}: {lv}" if g != "All patients" else "All patients" for g, lv in zip(df["group"], df["level"])]
    text = [f"{ev_t}/{n_t} vs {ev_c}/{n_c}" for ev_t, n_t, ev_c, n_c in
            zip(df["events_tacrolimus"], df["n_tacrolimus"], df["events_control"], df["n_control"])]
    ok = df["hazard_ratio"].notna()
    fig = go.Figure()
    fig.add_scatter(
        x=df.loc[ok, "hazard_ratio"], y=[labels[i] for i in df.index[ok]], mode="markers",
        marker=dict(symbol="square", size=11, color=ARM_COLORS[ARM_TACROLIMUS]),
        error_x=dict(type="data", symmetric=False, array=df.loc[ok, "ci_high"] - df.loc[ok, "hazard_ratio"],
                     arrayminus=df.loc[ok, "hazard_ratio"] - df.loc[ok, "ci_low"], color="#333"),
        customdata=np.c_[df.loc[ok, "ci_low"], df.loc[ok, "ci_high"], [text[i] for i in df.index[ok]]],
        hovertemplate="HR %{x:.2f} (%{customdata[0]:.2f}–%{customdata[1]:.2f}); relapses %{customdata[2]}<extra></extra>",
        showlegend=False,
    )
    for i in df.index[~ok]:
        fig.add_annotation(x=0, xref="x", y=labels[i], text="not estimable: too few events", showarrow=False,
                           font=dict(size=12, color="#777"), xanchor="center")
    fig.add_vline(x=1, line=dict(color="#666", dash="dash"))
    fig.update_xaxes(type="log", title="Hazard ratio, tacrolimus vs control (log scale; < 1 favours tacrolimus)",
                     range=[-2, 1])
    fig.update_yaxes(categoryorder="array", categoryarray=labels, title="")
    return _layout(fig, title, height=120 + 36 * len(df))


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


def by_arm_box(values: pd.DataFrame, column: str, y_title: str, title: str, p: float | None) -> go.Figure:
    """Box plot with points of one continuous value by arm, and the Mann–Whitney p."""
    fig = go.Figure()
    for arm in ARMS:
        v = values.loc[values["arm"] == arm, column].dropna()
        fig.add_box(y=v, name=ARM_LABELS[arm], marker_color=ARM_COLORS[arm], boxpoints="all", jitter=0.4,
                    pointpos=0, marker=dict(size=4, opacity=0.45), line=dict(width=2), showlegend=False)
    fig.add_annotation(xref="paper", yref="paper", x=0.5, y=1.02, showarrow=False, text=f"Mann–Whitney U, {p_value(p)}")
    fig.update_yaxes(title=y_title, rangemode="tozero")
    return _layout(fig, title)


def troughs(tac: pd.DataFrame, target: tuple[float, float] = TACROLIMUS_TROUGH_TARGET,
            title: str = "Tacrolimus trough levels") -> go.Figure:
    """Trough levels over months since treatment start against the target band."""
    fig = go.Figure()
    fig.add_hrect(y0=target[0], y1=target[1], fillcolor="rgba(0,158,115,0.12)", line_width=0,
                  annotation_text=f"target {target_range(target)}", annotation_position="top left")
    fig.add_scatter(x=tac["months"], y=tac["trough_ng_ml"], mode="markers",
                    marker=dict(color=ARM_COLORS[ARM_TACROLIMUS], size=5, opacity=0.45), name="trough",
                    hovertemplate="%{x:.1f} months: %{y:.1f} ng/mL<extra></extra>", showlegend=False)
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
                     ticktext=[f"{abs(v):.0f}" for v in ticks])
    fig.update_layout(barmode="relative")
    return _layout(fig, title, height=140 + 26 * len(df))


def export_config(view: str, filters_text: str, fmt: str = "png") -> dict:
    """Plotly toolbar download: PNG at 2× (or SVG) with a file name that says the view and the filters."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{view}_{filters_text}").strip("_")
    while "__" in safe:
        safe = safe.replace("__", "_")
    return {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "scale": 2, "filename": safe[:120]},
            "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
