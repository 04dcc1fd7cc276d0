"""An asset's lineage as its page shows it: the asset it was promoted from, and those promoted
from it (live ones only; the API's ``parent`` and ``children`` say the same)."""

from __future__ import annotations

from dataclasses import dataclass

from assets.models import Asset


@dataclass(frozen=True)
class Lineage:
    """``parent``: the live asset this one derives from (None when there is none, or it was
    deleted); ``parent_id``: its id even when deleted; ``children``: live assets derived from it."""

    parent: Asset | None
    parent_id: str | None
    children: list[Asset]

    @property
    def empty(self) -> bool:
        """Nothing to show: no parent recorded and no children."""
        return self.parent_id is None and not self.children


def lineage_of(asset: Asset) -> Lineage:
    """The lineage of ``asset`` (two small queries)."""
    parent = Asset.objects.live().filter(pk=asset.parent_id).first() if asset.parent_id else None
    children = list(Asset.objects.live().filter(parent=asset).order_by("created_at", "id")[:100])
    return Lineage(parent, str(asset.parent_id) if asset.parent_id else None, children)
