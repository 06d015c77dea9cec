"""Every number the dashboard shows for one cohort and one `Filters` value, computed when first
read and then kept.

A view reads its numbers from here and nowhere else, so that a figure on a page, the same figure
in the report (`analysis.report`) and its cache entry are one computation. A filter change on the
Response page computes the response statistics (~55 ms on the shipped cohort), not every section
(~170 ms). The object is shared between the sessions that ask for the same cohort and filters
(the front end keeps it in a bounded memo); `cached_property` computes each section once.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from .adjusted import ATE, Adjusted, adjusted
from .baseline import table1
from .cohort import Cohort
from .definitions import Definitions
from .filters import Filters
from .proportions import Comparison
from .relapse import relapse_rate, rfs, rfs_subgroups
from .response import ResponseResult, best_response
from .safety import SafetyResult, safety
from .schema import ARM_LABELS, ARMS, DIAGNOSES, select_rows
from .steroids import SteroidResult, course_sample, daily_dose_by_arm, steroids, trough_points
from .survival import ArmComparison


# The endpoint columns the statistics read. Each section takes subsets of its patients many times
# over (by arm, by diagnosis, responders, …), and a subset copies every column: on these 26 of the
# 42 columns (not the dates, sources and ids that only the pages and the export show) a report of
# 100,000 patients spends ~0.1 s less copying.
ANALYSED = ("patient_id", "arm", "diagnosis", "sex", "age", "follow_up_months", "baseline_plt", "baseline_hgb",
            "best_response", "responded", "complete_response", "time_to_response_months", "relapsed",
            "rfs_months", "treatment_start", "last_follow_up", "steroid_stopped", "steroid_stop_months",
            "steroid_cum_mg", "steroid_cum_mg_18m", "any_ae", "steroid_ae", "tacrolimus_ae", "grade3_ae",
            "serious_ae", "drug_cost_18m")


class Results:
    """The typed results of one cohort and one `Filters` value, section by section."""

    def __init__(self, cohort: Cohort, filters: Filters) -> None:
        self.filters = filters
        endpoints = cohort.endpoints_for_statistics(filters.definitions)
        self.patients: pd.DataFrame = filters.apply(endpoints)
        self._analysed = select_rows(self.patients, columns=ANALYSED)  # the same arrays, no copy
        # Each visit's patient as a row of the endpoints (the same for every reading of them).
        self._rows = {table: cohort.patient_rows(table) for table in ("tacrolimus", "adverse_events", "steroid_segments")}
        self._endpoint_count = len(endpoints) if endpoints.index.equals(pd.RangeIndex(len(cohort.endpoints))) else None
        # The tables a section needs, not the cohort: results outlive a cohort let go to free
        # memory (hosting/held.py), and the lab table, the largest, is needed by none of them.
        self._tacrolimus = cohort.tables.tacrolimus
        self._troughs_ranked = cohort.ranked_values("tacrolimus", "trough_ng_ml")
        self._adverse_events = cohort.table_for_statistics("adverse_events")
        self._segments = cohort.steroid_segments
        self._adjusted_variants: dict[tuple[str, bool], Adjusted] = {}

    def _in_selection(self, table: str) -> np.ndarray | None:
        """For each row of `table`, its patient's position in the selection (−1: not selected),
        from the cohort's `patient_rows`; None when the endpoints are not in the patients
        table's order (the sections then look the ids up)."""
        if self._endpoint_count is None:
            return None
        position = np.full(self._endpoint_count + 1, -1, dtype=np.int64)  # the last: for −1, no patient
        position[self.patients.index.to_numpy()] = np.arange(len(self.patients))
        return position.take(self._rows[table])

    @cached_property
    def table1(self) -> pd.DataFrame:
        """Baseline characteristics by arm (`baseline.table1`)."""
        return table1(self._analysed)

    @cached_property
    def response(self) -> ResponseResult:
        """Best overall and complete response, by diagnosis, CMH, distribution, time to response."""
        return best_response(self._analysed)

    @cached_property
    def relapse_rate(self) -> Comparison:
        """Relapsed among responders, tacrolimus vs control."""
        return relapse_rate(self._analysed)

    @cached_property
    def rfs(self) -> ArmComparison:
        """Relapse-free survival among responders by arm."""
        return rfs(self._analysed)

    @cached_property
    def rfs_subgroups(self) -> pd.DataFrame:
        """Hazard ratio of relapse in each diagnosis, sex and age band (the forest plot)."""
        return rfs_subgroups(self._analysed)

    @cached_property
    def rfs_by_diagnosis(self) -> dict[str, ArmComparison]:
        """Relapse-free survival by arm within each diagnosis that has patients under the filters."""
        dx = self._analysed["diagnosis"]
        return {d: rfs(self._analysed[dx == d]) for d in DIAGNOSES if (dx == d).any()}

    @cached_property
    def steroids(self) -> SteroidResult:
        """Cumulative dose, time to discontinuation, steroid-free shares, tacrolimus troughs."""
        return steroids(self._analysed, self._tacrolimus, self._in_selection("tacrolimus"), self._troughs_ranked)

    @cached_property
    def dose_curve(self) -> pd.DataFrame:
        """Daily prednisone-equivalent dose by arm on a 7-day grid (median and IQR)."""
        return daily_dose_by_arm(self._analysed, self._segments, patient_of_row=self._in_selection("steroid_segments"))

    @cached_property
    def steroid_courses(self) -> pd.DataFrame:
        """The daily-dose courses of 25 patients per arm, drawn at random (seed 0)."""
        return course_sample(self._analysed, self._segments)

    @cached_property
    def troughs(self) -> pd.DataFrame:
        """Every tacrolimus trough level of the filtered patients, with months since treatment start."""
        return trough_points(self._analysed, self._tacrolimus, self._in_selection("tacrolimus"))

    @cached_property
    def adjusted(self) -> Adjusted:
        """The comparison adjusted by propensity-score weighting (ATE), with balance and E-values."""
        return adjusted(self._analysed)

    def adjusted_as(self, estimand: str = ATE, truncate: bool = False) -> Adjusted:
        """The adjusted comparison for another estimand (ATT) or with truncated weights, each
        computed once and kept like the other sections."""
        if (estimand, truncate) == (ATE, False):
            return self.adjusted
        key = (estimand, truncate)
        if key not in self._adjusted_variants:
            self._adjusted_variants[key] = adjusted(self._analysed, estimand, truncate)
        return self._adjusted_variants[key]

    @cached_property
    def safety(self) -> SafetyResult:
        """Adverse events by arm and by term; drug expenses at 18 months."""
        return safety(self._analysed, self._adverse_events, self._in_selection("adverse_events"))


def not_comparable(cohort: Cohort, filters: Filters, results: Results) -> str:
    """Why the arms cannot be compared under these filters, as a sentence; "" when they can. The
    page, the slides and the report say the same."""
    if filters.nothing_selected:
        return "No diagnosis or no sex is selected, so no patients are shown. Choose at least one of each."
    # Counted on the default reading's arm codes (every reading has the same arms, and the default
    # one is never derived again), not split: splitting the whole cohort's frame by arm copied
    # every column on each page (38 ms at 100,000 patients).
    arms = cohort.endpoints_for_statistics(Definitions())["arm"]
    absent = [ARM_LABELS[a] for a in ARMS if not arms.eq(a).any()]
    if absent:
        return (f"This cohort has no patients in the {' or the '.join(absent)} arm, so the arms cannot be compared "
                "whatever the filters. Check the arm column of the patients table (tacrolimus or control).")
    n = {a: int(results.patients["arm"].eq(a).sum()) for a in ARMS}
    empty = [ARM_LABELS[a] for a, k in n.items() if k == 0]
    if empty:
        where = "either arm" if len(empty) == 2 else f"the {empty[0]} arm"
        return (f"The current filters leave no patients in {where}, so the arms cannot be compared. Widen the "
                f"filters (n: tacrolimus {n[ARMS[0]]}, control {n[ARMS[1]]}).")
    return ""


def no_responders(results: Results) -> str:
    """Why relapse cannot be compared (an arm without responders), as a sentence; "" otherwise."""
    none = [ARM_LABELS[a] for a in ARMS if results.rfs.curves[a].n == 0]
    if not none:
        return ""
    where = "either arm" if len(none) == 2 else f"the {none[0]} arm"
    return (f"No patient in {where} responded under the current filters, so relapse-free survival cannot be "
            "compared. Widen the filters.")


def compute(cohort: Cohort, filters: Filters = Filters()) -> Results:
    """The results of the filtered cohort; each section is computed when first read."""
    return Results(cohort, filters)
