"""Tags and collections: the writers of ``Tag``, ``AssetTag``, ``Collection`` and
``CollectionItem`` (with ``workspace.synthetic``, which only loads benchmark data).

Who (docs/roles.md): any creator or admin tags and untags live assets and makes collections;
a collection's assets are changed by its owner while they hold the creator role, or by an
admin. Every role sees every collection, as every role sees every asset. Each change is
audited in the same transaction, with the acting user.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, models, transaction

from assets.models import Asset
from assets.review import NoSuchAsset, NotPermitted
from governance import roles
from governance.audit_trail import record_event
from hallmark.errors import InvalidInput
from workspace.models import AssetTag, Collection, CollectionItem, Tag

User = AbstractBaseUser | AnonymousUser
Row = TypeVar("Row", bound=models.Model)

MAX_TAGS_PER_REQUEST = 50
MAX_ASSETS_PER_REQUEST = 1000
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 2000
# Letters (any script), digits, then also "-", "_" and ".": a tag goes in URLs and CSV cells.
_TAG = re.compile(r"^[^\W_][\w.-]{0,63}$")


def clean_tags(raw: Any, *, field_name: str = "tags") -> list[str]:
    """A non-empty list of tag names, lower case, unique, in order; ``InvalidInput`` else."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput({field_name: ["Must be a non-empty list of tag names."]})
    if len(raw) > MAX_TAGS_PER_REQUEST:
        raise InvalidInput({field_name: [f"At most {MAX_TAGS_PER_REQUEST} tags at a time."]})
    names: list[str] = []
    for item in raw:
        name = item.strip().lower() if isinstance(item, str) else None
        if not name or not _TAG.match(name):
            raise InvalidInput(
                {field_name: [f"{item!r:.80} is not a tag: 1 to 64 letters, digits, '-', '_' or '.'."]}
            )
        if name not in names:
            names.append(name)
    return names


def clean_asset_ids(raw: Any, *, field_name: str = "assets", limit: int = MAX_ASSETS_PER_REQUEST) -> list[uuid.UUID]:
    """A non-empty list of asset ids (UUIDs), unique, in order; ``InvalidInput`` else."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput({field_name: ["Must be a non-empty list of asset ids."]})
    if len(raw) > limit:
        raise InvalidInput({field_name: [f"At most {limit} assets at a time."]})
    ids: list[uuid.UUID] = []
    for item in raw:
        try:
            value = uuid.UUID(item) if isinstance(item, str) else None
        except ValueError:
            value = None
        if value is None:
            raise InvalidInput({field_name: [f"{item!r:.80} is not an asset id."]})
        if value not in ids:
            ids.append(value)
    return ids


def live_assets(ids: list[uuid.UUID], *, field_name: str = "assets") -> list[Asset]:
    """The live assets ``ids`` in that order; ``InvalidInput`` naming any that is not one."""
    found = {a.pk: a for a in Asset.objects.live().filter(pk__in=ids).select_related("created_by")}
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise InvalidInput({field_name: [f"No such asset: {', '.join(missing[:10])}."]})
    return [found[i] for i in ids]


def _require_creator(user: User, doing: str) -> None:
    if not roles.has_role(user, roles.CREATOR):
        raise NotPermitted(f"You need the creator role to {doing}.")


def tags_of(asset: Asset) -> list[str]:
    """The asset's tag names, alphabetically."""
    return list(AssetTag.objects.filter(asset=asset).order_by("tag__name").values_list("tag__name", flat=True))


def _insert_missing(model: type[Row], missing: Callable[[], list[Row]]) -> list[Row]:
    """Insert the rows ``missing()`` builds from what is there now, and return them.

    Check-then-insert races an identical concurrent request: its rows can commit between our
    read and our insert, and the unique constraint then refuses ours (a 500). The insert runs
    in a savepoint; on a conflict the racer's rows are visible (PostgreSQL raises only once it
    has committed), so reading again leaves only ours, and the audit event names exactly those.
    """
    for attempt in range(3):
        try:
            with transaction.atomic():
                rows = missing()
                model._default_manager.bulk_create(rows)
            return rows
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def add_tags(asset_ids: Iterable[uuid.UUID], names: list[str], *, acting_user: User) -> list[Asset]:
    """Tag each live asset with ``names`` (those it already has are left as they are)."""
    _require_creator(acting_user, "tag assets")
    with transaction.atomic():
        assets = live_assets(list(asset_ids))
        Tag.objects.bulk_create([Tag(name=n) for n in names], ignore_conflicts=True)
        tags = list(Tag.objects.filter(name__in=names))

        def missing() -> list[AssetTag]:
            have = set(AssetTag.objects.filter(asset__in=assets, tag__in=tags).values_list("asset_id", "tag_id"))
            return [
                AssetTag(asset=asset, tag=tag, tagged_by_id=acting_user.pk)
                for asset in assets
                for tag in tags
                if (asset.pk, tag.pk) not in have
            ]

        new = _insert_missing(AssetTag, missing)
        for asset in assets:
            added = sorted(link.tag.name for link in new if link.asset_id == asset.pk)
            if added:
                record_event("asset.tagged", acting_user=acting_user, target=asset, data={"tags": added})
    return assets


def remove_tags(asset_ids: Iterable[uuid.UUID], names: list[str], *, acting_user: User) -> list[Asset]:
    """Take ``names`` off each live asset (a tag it does not have is ignored)."""
    _require_creator(acting_user, "untag assets")
    with transaction.atomic():
        assets = live_assets(list(asset_ids))
        for asset in assets:
            links = AssetTag.objects.filter(asset=asset, tag__name__in=names)
            removed = sorted(links.values_list("tag__name", flat=True))
            if not removed:
                continue
            links.delete()
            record_event("asset.untagged", acting_user=acting_user, target=asset, data={"tags": removed})
    return assets


def create_collection(name: Any, description: Any, *, acting_user: User) -> Collection:
    """A new collection owned by ``acting_user`` (a creator or admin)."""
    _require_creator(acting_user, "make collections")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput({"name": ["A name is required."]})
    if len(name.strip()) > MAX_NAME_LENGTH or "\x00" in name:
        raise InvalidInput({"name": [f"At most {MAX_NAME_LENGTH} characters, no NUL."]})
    description = "" if description is None else description
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_LENGTH or "\x00" in description:
        raise InvalidInput({"description": [f"Text of at most {MAX_DESCRIPTION_LENGTH} characters, no NUL."]})
    with transaction.atomic():
        collection = Collection.objects.create(
            name=name.strip(), description=description.strip(), owner_id=int(acting_user.pk or 0)
        )
        record_event("collection.created", acting_user=acting_user, target=collection, data={"name": collection.name})
    return collection


class NoSuchCollection(NoSuchAsset):
    """No collection has this id (404)."""


def get_collection(collection_id: Any) -> Collection:
    """The collection ``collection_id``; ``NoSuchCollection`` (404) when there is none."""
    try:
        return Collection.objects.select_related("owner").get(pk=collection_id)
    except (Collection.DoesNotExist, ValueError, TypeError):
        raise NoSuchCollection("No such collection.") from None


def may_change(collection: Collection, user: User) -> bool:
    """Whether ``user`` may change which assets ``collection`` holds."""
    if roles.has_role(user, roles.ADMIN):
        return True
    return collection.owner_id == user.pk and roles.has_role(user, roles.CREATOR)


def _changeable(collection_id: Any, user: User) -> Collection:
    with transaction.atomic():
        collection = get_collection(collection_id)
    if not may_change(collection, user):
        raise NotPermitted("Only the collection's owner (holding the creator role) or an admin may change it.")
    return collection


def add_to_collection(collection_id: Any, asset_ids: list[uuid.UUID], *, acting_user: User) -> int:
    """Add live assets to a collection; return how many were not in it already."""
    collection = _changeable(collection_id, acting_user)
    with transaction.atomic():
        assets = live_assets(asset_ids)

        def missing() -> list[CollectionItem]:
            have = set(CollectionItem.objects.filter(collection=collection, asset__in=assets).values_list("asset_id", flat=True))
            return [CollectionItem(collection=collection, asset=a, added_by_id=acting_user.pk) for a in assets if a.pk not in have]

        new = [item.asset for item in _insert_missing(CollectionItem, missing)]
        if new:
            record_event(
                "collection.assets_added",
                acting_user=acting_user,
                target=collection,
                data={"assets": [str(a.pk) for a in new]},
            )
    return len(new)


def remove_from_collection(collection_id: Any, asset_ids: list[uuid.UUID], *, acting_user: User) -> int:
    """Take assets out of a collection (ids it does not hold are ignored); return how many."""
    collection = _changeable(collection_id, acting_user)
    with transaction.atomic():
        items = CollectionItem.objects.filter(collection=collection, asset_id__in=asset_ids)
        removed = sorted(str(i) for i in items.values_list("asset_id", flat=True))
        if removed:
            items.delete()
            record_event(
                "collection.assets_removed", acting_user=acting_user, target=collection, data={"assets": removed}
            )
    return len(removed)
