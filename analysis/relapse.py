"""Relapse among responders and relapse-free survival (from the first confirmed response to
relapse, censored at last follow-up; non-responders are not in it)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .proportions import Comparison, compare
from .schema import ARM_CONTROL, ARM_TACROLIMUS
from .survival import ArmComparison, compare_arms, subgroup_hazard_ratios


@dataclass(frozen=True)
class RelapseResult:
    rate: Comparison  # relapsed among responders, tacrolimus vs control
    rfs: ArmComparison
    subgroups: pd.DataFrame


def responders(patients: pd.DataFrame) -> pd.DataFrame:
    r = patients[patients["responded"].astype("boolean").fillna(False).astype(bool)]
    return r.assign(relapsed=r["relapsed"].astype("boolean").fillna(False).astype(bool))


def relapse(patients: pd.DataFrame) -> RelapseResult:
    r = responders(patients)
    a = r.loc[r["arm"] == ARM_TACROLIMUS, "relapsed"]
    b = r.loc[r["arm"] == ARM_CONTROL, "relapsed"]
    rate = compare(int(a.sum()), len(a), int(b.sum()), len(b), what="relapses")
    if len(a) == 0 or len(b) == 0:
        empty = "tacrolimus" if len(a) == 0 else "control"
        rate = Comparison(rate.a, rate.b, rate.difference, rate.difference_ci, rate.p_value, rate.test,
                          rate.odds_ratio, rate.odds_ratio_ci, f"the {empty} arm has no responders")
    with_time = r.dropna(subset=["rfs_months"])
    return RelapseResult(rate, compare_arms(with_time, "rfs_months", "relapsed"),
                         subgroup_hazard_ratios(with_time, "rfs_months", "relapsed"))
