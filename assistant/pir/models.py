"""The shapes a PIR's drafted parts take: the narrative (model or rules) and a person's edits.

The narrative model doubles as the validator of a model's JSON answer: anything that does
not fit (missing summary, a priority outside prevent/detect/mitigate, a 5 kB "lesson")
is rejected and the rules draft is used instead.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from assistant.pir.words import valid_severity

Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=800)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Ident = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Lines = Annotated[list[Line], Field(max_length=12)]
OWNER, DUE = "TODO(owner)", "TODO(due date)"


class WhyStep(BaseModel):
    why: Line
    because: Line
    refs: list[str] = Field(default_factory=list, max_length=12)


class ActionItem(BaseModel):
    title: Line
    priority: Literal["prevent", "detect", "mitigate"]
    owner: str = OWNER
    due: str = DUE
    refs: list[str] = Field(default_factory=list, max_length=12)


class NarrativeFields(BaseModel):
    """What a model must answer (extra keys ignored); owners and due dates stay placeholders."""

    model_config = ConfigDict(extra="ignore")

    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1500)]
    leadup: Lines = Field(default_factory=list)
    five_whys: Annotated[list[WhyStep], Field(min_length=1, max_length=5)]
    went_well: Lines = Field(default_factory=list)
    went_poorly: Lines = Field(default_factory=list)
    lucky: Lines = Field(default_factory=list)
    lessons: Lines = Field(default_factory=list)
    action_items: Annotated[list[ActionItem], Field(min_length=1, max_length=12)]

    @field_validator("action_items")
    @classmethod
    def _placeholders(cls, items: list[ActionItem]) -> list[ActionItem]:
        """A model cannot know who owns a fix or when it is due: those are for people to fill."""
        return [i.model_copy(update={"owner": OWNER, "due": DUE}) for i in items]


class Narrative(NarrativeFields):
    """Summary, leadup, five whys, went well/poorly/lucky, lessons and action items, and who drafted them."""

    source: str = "rules"
    """'rules', or the model that drafted it."""
    note: str | None = None
    """Why the rules were used (offline model, model failure, invalid answer)."""


class PirEdits(BaseModel):
    """What a person may change when regenerating; carried into later versions until changed again."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    severity: str | None = None
    """SEV1..SEV4 or P1..P4."""
    authors: Annotated[list[Name], Field(max_length=20)] | None = None
    status: Literal["draft", "in review", "final"] | None = None
    incident_id: Ident | None = None

    @field_validator("severity")
    @classmethod
    def _severity(cls, value: str | None) -> str | None:
        if value is not None and not valid_severity(value):
            raise ValueError("severity must be one of SEV1, SEV2, SEV3, SEV4 (or P1..P4)")
        return value.strip().upper() if value else value

    def merged_over(self, older: PirEdits | None) -> PirEdits:
        if older is None:
            return self
        return older.model_copy(update=self.model_dump(exclude_none=True))
