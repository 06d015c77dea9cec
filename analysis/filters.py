"""The one Filters value that drives the app and the CLI alike."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .schema import DIAGNOSES, SEXES


@dataclass(frozen=True)
class Filters:
    """Which patients to include. Empty tuples and None mean "no restriction"."""

    diagnosis: tuple[str, ...] = ()
    sex: tuple[str, ...] = ()
    age_min: float | None = None
    age_max: float | None = None

    def __post_init__(self) -> None:
        unknown = [d for d in self.diagnosis if d not in DIAGNOSES] + [s for s in self.sex if s not in SEXES]
        if unknown:
            raise ValueError(
                f"unknown filter value(s) {', '.join(map(repr, unknown))}: diagnosis is one of "
                f"{', '.join(DIAGNOSES)}; sex is one of {', '.join(SEXES)}"
            )
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise ValueError(f"age_min ({self.age_min:g}) is above age_max ({self.age_max:g})")

    def apply(self, endpoints: pd.DataFrame) -> pd.DataFrame:
        keep = pd.Series(True, index=endpoints.index)
        if self.diagnosis:
            keep &= endpoints["diagnosis"].isin(self.diagnosis)
        if self.sex:
            keep &= endpoints["sex"].isin(self.sex)
        if self.age_min is not None:
            keep &= endpoints["age"] >= self.age_min
        if self.age_max is not None:
            keep &= endpoints["age"] <= self.age_max
        return endpoints.loc[keep]

    def as_dict(self) -> dict:
        return {
            "diagnosis": list(self.diagnosis) or None,
            "sex": list(self.sex) or None,
            "age_min": self.age_min,
            "age_max": self.age_max,
        }

    def describe(self) -> str:
        parts = []
        if self.diagnosis:
            parts.append("+".join(self.diagnosis))
        if self.sex:
            parts.append("+".join(self.sex))
        if self.age_min is not None or self.age_max is not None:
            lo = f"{self.age_min:g}" if self.age_min is not None else ""
            hi = f"{self.age_max:g}" if self.age_max is not None else ""
            parts.append(f"age {lo}–{hi}")
        return ", ".join(parts) or "all patients"
