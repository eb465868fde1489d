"""The input report every reader returns: rows read, used, corrected, rejected, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["IngestReport"]


@dataclass
class IngestReport:
    """What happened to the rows of one input table."""

    source: str
    rows_read: int = 0
    rows_used: int = 0
    rows_rejected: int = 0
    rows_corrected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, reason: str, n: int, *, rejected: bool = False, corrected: bool = False) -> None:
        if n <= 0:
            return
        self.reasons[reason] = self.reasons.get(reason, 0) + int(n)
        if rejected:
            self.rows_rejected += int(n)
        if corrected:
            self.rows_corrected += int(n)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_used": self.rows_used,
            "rows_rejected": self.rows_rejected,
            "rows_corrected": self.rows_corrected,
            "reasons": dict(self.reasons),
            "warnings": list(self.warnings),
        }

    def __str__(self) -> str:
        lines = [
            f"{self.source}: {self.rows_read:,} rows read, {self.rows_used:,} used, "
            f"{self.rows_corrected:,} corrected, {self.rows_rejected:,} rejected"
        ]
        for reason, n in self.reasons.items():
            lines.append(f"  - {reason}: {n:,}")
        for w in self.warnings:
            lines.append(f"  ! {w}")
        return "\n".join(lines)
