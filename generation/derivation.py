"""What a promoted job derives from, as ``generation.services.submit`` records it on the job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DerivedFrom:
    """The source asset of a promoted job, how it is used (``Derivation``) and, for a
    refinement, how much of it is redrawn (``strength``)."""

    source_asset_id: str
    derivation: str
    strength: float | None = None

    def job_fields(self) -> dict[str, Any]:
        """The job row's lineage fields."""
        return {
            "source_asset_id": self.source_asset_id,
            "derivation": self.derivation,
            "strength": self.strength,
        }

    def audited(self) -> dict[str, Any]:
        """What the job's ``generation.requested`` event says about it: the parent, by id."""
        return {"parent": self.source_asset_id, "derivation": self.derivation, "strength": self.strength}


def lineage_fields(derived: DerivedFrom | None) -> dict[str, Any]:
    """The job row's lineage fields (none for an ordinary job)."""
    return derived.job_fields() if derived else {}


def audited_lineage(derived: DerivedFrom | None) -> dict[str, Any]:
    """What ``generation.requested`` says about the parent (nothing for an ordinary job)."""
    return derived.audited() if derived else {}
