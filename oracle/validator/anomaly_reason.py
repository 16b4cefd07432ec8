"""One reason of a node's anomaly (:mod:`oracle.validator.anomaly`): the signal's ``kind``, its
severity in ppm (0 for a note that only explains what could not be checked) and a readable detail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reason:
    kind: str
    severity_ppm: int
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity_ppm": self.severity_ppm, "detail": self.detail}
