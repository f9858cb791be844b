"""The caller's choices where no answer is right for everyone."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ._errors import InvalidArgument


class OnAmbiguous(str, enum.Enum):
    RESUBMIT = "resubmit"  # submit again with the same reference (logged as a warning)
    FAIL = "fail"          # raise AmbiguousSubmission for a human


class OnLost(str, enum.Enum):
    RESUBMIT = "resubmit"  # the recorded id is unknown to the system: submit again, warn
    FAIL = "fail"          # raise JobLost


class OnSuperseded(str, enum.Enum):
    LEAVE = "leave"    # an old job still running under a changed spec is left alone
    CANCEL = "cancel"  # ... or cancelled before the new submission


@dataclass(frozen=True, slots=True)
class Policy:
    """The caller's choices where no answer is right for everyone.

    - *intent_lease*: how long another process's intent is honoured before it counts
      as crashed. It must exceed the longest submit call; a retry after a crash waits
      at most this long when the job cannot be found by reference.
    - *max_lost_resubmits*: how many times one run resubmits because the system forgot
      the job, before it stops with ``JobLost`` naming every id it submitted. A system
      that forgets every job would otherwise be fed new ones without end.
    - *lost_settle*: a job the system does not know is asked about again after this
      many seconds before it counts as lost: two answers over a settle period, for a
      system that can answer "unknown" for a while after a restart. 0 decides at once.
    - *resume*: a job that can start from a recorded state (``SupportsResumeState``: a
      Flink checkpoint) is resubmitted after a failure or a lost job from the state its
      predecessor reached; False starts every submission afresh.
    """

    on_ambiguous: OnAmbiguous = OnAmbiguous.RESUBMIT
    on_lost: OnLost = OnLost.RESUBMIT
    on_superseded: OnSuperseded = OnSuperseded.LEAVE
    intent_lease: float = 120.0
    max_lost_resubmits: int = 2
    lost_settle: float = 0.0
    resume: bool = True

    def __post_init__(self) -> None:
        # Strings are accepted where the enums are expected ("fail", "cancel"): coerce
        # them here, once, so a typo fails at construction and not mid-run.
        for name, kind in (("on_ambiguous", OnAmbiguous), ("on_lost", OnLost), ("on_superseded", OnSuperseded)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, kind(value))
            except ValueError:
                allowed = ", ".join(repr(m.value) for m in kind)
                raise InvalidArgument(f"Policy {name} must be one of {allowed}, got {value!r}") from None
        if not self.intent_lease > 0:
            raise InvalidArgument(f"Policy intent_lease must be > 0 seconds, got {self.intent_lease!r}")
        if self.max_lost_resubmits < 0:
            raise InvalidArgument(f"Policy max_lost_resubmits must be >= 0, got {self.max_lost_resubmits!r}")
        if not self.lost_settle >= 0:
            raise InvalidArgument(f"Policy lost_settle must be >= 0 seconds, got {self.lost_settle!r}")


__all__ = ["OnAmbiguous", "OnLost", "OnSuperseded", "Policy"]
