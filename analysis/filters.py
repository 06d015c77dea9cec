"""The one Filters value that drives the app, the CLI and the cache alike."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from .definitions import Definitions
from .schema import DIAGNOSES, SEXES, select_rows


@dataclass(frozen=True)
class Filters:
    """Which patients to include, and under which definitions their endpoints are read.

    For a list of codes, None means any and an empty tuple means none (nothing is selected, so no
    patient is included); for an age bound, None means no bound. The value is frozen and hashable:
    it is also the key of the cached results.

    >>> Filters(diagnosis=("ITP",), age_max=60).describe()
    'ITP, age –60'
    >>> Filters(sex=()).nothing_selected
    True
    """

    # Each field is also a flag of the command line (analysis/__main__.py reads them from here):
    # "codes" for a list of codes, otherwise a number.
    diagnosis: tuple[str, ...] | None = field(default=None, metadata={"codes": DIAGNOSES, "help": "diagnoses"})
    sex: tuple[str, ...] | None = field(default=None, metadata={"codes": SEXES, "help": "sexes"})
    age_min: float | None = field(default=None, metadata={"help": "youngest age at treatment start, years"})
    age_max: float | None = field(default=None, metadata={"help": "oldest age at treatment start, years"})
    # Not a selection: the reviewer's switches (analysis/definitions.py), carried here so that the
    # cache key, every caption, file name and export of a filter choice name them too.
    definitions: Definitions = field(default=Definitions(), metadata={"definitions": True})

    def __post_init__(self) -> None:
        unknown = [d for d in self.diagnosis or () if d not in DIAGNOSES] + [s for s in self.sex or () if s not in SEXES]
        if unknown:
            raise ValueError(
                f"unknown filter value(s) {', '.join(map(repr, unknown))}: diagnosis is one of "
                f"{', '.join(DIAGNOSES)}; sex is one of {', '.join(SEXES)}"
            )
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise ValueError(f"age_min ({self.age_min:g}) is above age_max ({self.age_max:g})")

    @property
    def nothing_selected(self) -> bool:
        """No diagnosis or no sex is selected: the filters include nobody."""
        return self.diagnosis == () or self.sex == ()

    def apply(self, endpoints: pd.DataFrame) -> pd.DataFrame:
        """The rows of the per-patient table that the filters include."""
        return select_rows(endpoints, self.selected(endpoints))

    def selected(self, endpoints: pd.DataFrame) -> np.ndarray:
        """Whether the filters include each row of the per-patient table (a mask)."""
        keep = np.ones(len(endpoints), dtype=bool)
        if self.diagnosis is not None:
            keep &= endpoints["diagnosis"].isin(self.diagnosis).to_numpy(dtype=bool)
        if self.sex is not None:
            keep &= endpoints["sex"].isin(self.sex).to_numpy(dtype=bool)
        if self.age_min is not None:
            keep &= (endpoints["age"] >= self.age_min).to_numpy(dtype=bool, na_value=False)
        if self.age_max is not None:
            keep &= (endpoints["age"] <= self.age_max).to_numpy(dtype=bool, na_value=False)
        return keep

    def as_dict(self) -> dict:
        """The filters of the report (docs/report.md): null for any, a list otherwise (the
        definitions are the report's own key)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if not f.metadata.get("definitions")}
        return {name: list(v) if isinstance(v, tuple) else v for name, v in values.items()}

    def describe(self) -> str:
        """The filters in a few words, for captions, footers and file names."""
        parts = []
        if self.diagnosis is not None:
            parts.append("+".join(self.diagnosis) or "no diagnosis")
        if self.sex is not None:
            parts.append("+".join(self.sex) or "no sex")
        if self.age_min is not None or self.age_max is not None:
            lo = f"{self.age_min:g}" if self.age_min is not None else ""
            hi = f"{self.age_max:g}" if self.age_max is not None else ""
            parts.append(f"age {lo}–{hi}")
        said = ", ".join(parts) or "all patients"
        return f"{said}; {self.definitions.describe()}" if not self.definitions.default else said
