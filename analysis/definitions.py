"""The definitions a reviewer would question, as switches. Each is off by default (the study's
reading, STUDY.md) and, when on, changes how `analysis.derive` reads every patient's response and
relapse; every page, the report, the endpoints file and the slides then follow it, and name it.

- `relapse_on_loss_of_cr`: for a patient whose best response is CR, relapse is the loss of CR (two
  consecutive counts below the CR threshold at least a day apart, after CR was confirmed), not the
  loss of any response. IWG 2009 (Rodeghiero et al., Blood 2009;113:2386) ends the duration of
  CR at the loss of CR. Relapse-free survival is still counted from the first response. Patients
  whose endpoints are recorded rather than derived from labs have one relapse date, used as it is.
- `steroid_dependence_is_nonresponse`: IWG 2009 counts corticosteroid dependence — "the need for
  ongoing or repeated doses of corticosteroids for at least 2 months to maintain" the response —
  as no response. Read from the steroid periods: a responder who still takes more than
  `STEROID_DEPENDENCE_ABOVE_MG` mg/day prednisone-equivalent `STEROID_DEPENDENCE_DAY` days after
  treatment start without having relapsed by then, i.e. well past the induction and a standard
  taper. Where only a recorded stop date is known, any steroid then counts. Such patients become non-responders and
  leave the relapse analysis. A patient followed up for less than that cannot be called dependent.
- `haemolysis_normal_for_cr`: AIHA (and the Hb lineage of Evans syndrome) CR needs a haemolysis
  marker (reticulocytes, LDH or bilirubin) measured with the Hb count — on the same day or up to
  `criteria.MARKER_WINDOW_DAYS` days before it, the latest of each marker — and every one of them
  normal. Off, a CR count without any marker in that window counts on Hb alone (the Response page
  says for how many patients some CR count had no marker). Recorded endpoints (no labs) are kept
  as recorded under every switch.

>>> Definitions().describe()
''
>>> Definitions(relapse_on_loss_of_cr=True).describe()
'relapse = loss of CR'
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from .criteria import MARKER_WINDOW_DAYS

# "Ongoing corticosteroids for at least 2 months" (IWG 2009) beyond a course that, with induction
# and a standard taper, ends by month 4: still on corticosteroids at 6 months.
STEROID_DEPENDENCE_DAY = 183
# Above a physiological replacement dose: a patient weaning from 2.5–5 mg/day is not kept in
# response by corticosteroids.
STEROID_DEPENDENCE_ABOVE_MG = 5.0


@dataclass(frozen=True)
class Definitions:
    """Which reading of response and relapse is in force (see the module's description). Frozen and
    hashable: part of the key of the cached results."""

    relapse_on_loss_of_cr: bool = field(default=False, metadata={
        "short": "relapse = loss of CR", "url": "relapse_cr", "label": "Relapse = loss of CR (CR patients)",
        "help": "for CR patients, relapse is the loss of CR (IWG 2009), not the loss of any response"})
    steroid_dependence_is_nonresponse: bool = field(default=False, metadata={
        "short": "steroid-dependent = NR", "url": "steroid_dependent_nr",
        "label": "Steroid-dependent responders = no response",
        "help": f"a responder still on more than {STEROID_DEPENDENCE_ABOVE_MG:g} mg/day prednisone-equivalent "
                f"{STEROID_DEPENDENCE_DAY} days after treatment start, without relapse, counts as a non-responder "
                "(IWG 2009)"})
    haemolysis_normal_for_cr: bool = field(default=False, metadata={
        "short": "AIHA CR needs normal haemolysis markers", "url": "haemolysis_cr",
        "label": "AIHA CR needs normal haemolysis markers",
        "help": f"CR in AIHA needs reticulocytes, LDH or bilirubin measured within {MARKER_WINDOW_DAYS} days before "
                "the Hb count, all normal"})

    @property
    def default(self) -> bool:
        return self == Definitions()

    def describe(self) -> str:
        """The switches that are on, in a few words ("" when none is)."""
        return "; ".join(f.metadata["short"] for f in fields(self) if getattr(self, f.name))

    def sentences(self) -> list[str]:
        """Each switch in force as a sentence saying what it does (for captions and the report)."""
        said = {
            "relapse_on_loss_of_cr": "Relapse of a CR patient is the loss of CR (IWG 2009: duration of CR ends at "
                                     "the loss of CR), counted from the first response.",
            "steroid_dependence_is_nonresponse": (
                f"A responder still on more than {STEROID_DEPENDENCE_ABOVE_MG:g} mg/day prednisone-equivalent "
                f"{STEROID_DEPENDENCE_DAY} days after treatment start, without relapse, is steroid-dependent and "
                "counts as a non-responder (IWG 2009: corticosteroid dependence is no response)."),
            "haemolysis_normal_for_cr": (
                f"AIHA CR needs every haemolysis marker measured within {MARKER_WINDOW_DAYS} days before the Hb count "
                "normal, and at least one measured (no CR on Hb alone)."),
        }
        return [said[f.name] for f in fields(self) if getattr(self, f.name)]

    def relapse_rule(self) -> str:
        """What counts as relapse under these definitions, for captions and the Methods slide."""
        rule = "two consecutive counts without response, at least 1 day apart, after a confirmed response"
        if self.relapse_on_loss_of_cr:
            rule += "; for a CR patient also two such counts below CR after CR was confirmed (loss of CR)"
        return rule

    def as_dict(self) -> dict:
        """The switches of the report (docs/report.md): name → true/false."""
        return {f.name: bool(getattr(self, f.name)) for f in fields(self)}
