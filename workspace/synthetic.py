"""The synthetic library: N realistic assets in bulk, for benchmarks and demos.

Prompts are drawn from a vocabulary; five plugins with several model versions, licences as
their plugins declare them, review states, tags, collections, dates spread over two years,
one to four images per job, and a handful of real image files shared among all the rows.
A few words (``RARE_WORDS``) each appear in exactly one prompt, one per 250,000 assets (one in
a smaller library), so benchmarks can search for a word that matches a single asset.

Writes tags, collections and their memberships (one of their ``WRITERS``); jobs and assets are
loaded by their own apps' writers (``generation.synthetic``, ``assets.synthetic``).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from assets import synthetic as synthetic_assets
from assets.models import Asset, AssetStatus
from generation import synthetic as synthetic_jobs
from generation.models import GenerationJob
from governance.audit_trail import record_event
from governance.models import AuditEvent
from hallmark.bulk import load_rows
from hallmark.errors import InvalidInput
from plugins.builtin.ideogram.declarations import IDEOGRAM_LICENSE
from plugins.builtin.procedural import ProceduralPlugin
from plugins.builtin.sd35.pipeline import STABILITY_COMMUNITY_LICENSE
from workspace.models import AssetTag, Collection, CollectionItem, Tag

SUBJECTS = (
    "red fox", "lighthouse", "mountain village", "koi pond", "city skyline", "vintage car", "astronaut",
    "owl", "sailing boat", "bowl of ramen", "desert caravan", "robot gardener", "cathedral", "tiger",
    "hot air balloon", "bicycle", "cup of coffee", "snowy forest", "jellyfish", "castle ruins",
    "tea house", "steam locomotive", "market stall", "waterfall", "dragon", "greenhouse", "violin",
    "wolf pack", "paper lanterns", "sunflower field", "harbour", "skateboarder", "bookshop",
    "glass bottle", "orchard", "windmill", "penguin colony", "street musician", "canyon", "meadow",
)
STYLES = (
    "watercolor", "oil painting", "photograph", "isometric illustration", "pixel art", "charcoal sketch",
    "3d render", "studio product shot", "ukiyo-e print", "art deco poster", "cinematic still",
    "low poly", "pastel drawing", "linocut", "flat vector", "film photograph",
)
SETTINGS = (
    "at dawn", "at dusk", "in the rain", "under the stars", "in autumn", "in fog", "by the sea",
    "in winter", "at noon", "in a neon city", "on a hill", "in springtime",
)
DETAILS = (
    "soft light", "dramatic shadows", "golden hour", "wide angle", "shallow depth of field",
    "high contrast", "muted palette", "vivid colours", "intricate detail", "minimalist",
    "symmetrical composition", "long exposure", "bokeh", "backlit",
)
RARE_WORDS = ("axolotl", "quetzal", "narwhal", "okapi", "pangolin", "tardigrade", "fossa", "kakapo")
RARE_EVERY = 250_000
TAGS = (
    "campaign-spring", "campaign-summer", "social", "print", "hero", "banner", "moodboard", "product",
    "editorial", "needs-edit", "favourite", "brand-safe", "internal", "client-a", "client-b", "client-c",
    "draft-ideas", "web", "packaging", "event", "newsletter", "ads", "portrait", "landscape",
)
SIZES = ((1024, 1024), (1344, 768), (768, 1344), (512, 512), (1536, 640), (896, 1152))
STATUS_WEIGHTS = (
    (AssetStatus.DRAFT, 55), (AssetStatus.IN_REVIEW, 10), (AssetStatus.APPROVED, 25),
    (AssetStatus.REJECTED, 7), (AssetStatus.ARCHIVED, 3),
)


def _identity(name: str, version: str, fingerprint: str, **extra: str) -> dict[str, Any]:
    return {"name": name, "version": version, "fingerprint": fingerprint, "libraries": {}, "extra": extra}


@dataclass(frozen=True)
class _Model:
    plugin_id: str
    plugin_version: str
    identity: dict[str, Any]
    license: dict[str, Any]
    params: dict[str, Any]
    cost: Decimal | None
    weight: int


_MODELS = (
    _Model("procedural", "1.0.0", _identity("hallmark-procedural", "1.0.0", "sha256:" + "1" * 64),
           ProceduralPlugin.license.as_dict(), {"pattern": "gradient"}, None, 10),
    _Model("sd35-medium", "0.2.0", _identity("stabilityai/stable-diffusion-3.5-medium", "3.5-medium", "sha256:" + "2" * 64),
           STABILITY_COMMUNITY_LICENSE.as_dict(), {"steps": 28, "guidance_scale": 4.5}, None, 20),
    _Model("sd35-medium", "0.3.0", _identity("stabilityai/stable-diffusion-3.5-medium", "3.5-medium-fp16", "sha256:" + "3" * 64),
           STABILITY_COMMUNITY_LICENSE.as_dict(), {"steps": 40, "guidance_scale": 5.0}, None, 15),
    _Model("sd35-large-turbo", "0.3.0", _identity("stabilityai/stable-diffusion-3.5-large-turbo", "3.5-large-turbo", "sha256:" + "4" * 64),
           STABILITY_COMMUNITY_LICENSE.as_dict(), {"steps": 4, "guidance_scale": 0.0}, None, 15),
    _Model("ideogram-v2", "1.0.0", _identity("ideogram", "V_2", "api:ideogram:V_2"),
           IDEOGRAM_LICENSE.as_dict(), {"style_type": "GENERAL"}, Decimal("0.08"), 25),
    _Model("ideogram-v2a-turbo", "1.0.0", _identity("ideogram", "V_2A_TURBO", "api:ideogram:V_2A_TURBO"),
           IDEOGRAM_LICENSE.as_dict(), {"style_type": "AUTO"}, Decimal("0.025"), 15),
)  # fmt: skip


@dataclass
class SyntheticReport:
    """What one run made."""

    assets: int = 0
    jobs: int = 0
    tag_links: int = 0
    collection_items: int = 0
    collections: int = 0
    rare_words: dict[str, int] = field(default_factory=dict)


def _prompt(rng: random.Random) -> str:
    words = [rng.choice(STYLES), "of a", rng.choice(SUBJECTS), rng.choice(SETTINGS)]
    words += rng.sample(DETAILS, rng.randint(1, 3))
    return ", ".join([" ".join(words[:4]), *words[4:]])


def build(
    count: int,
    *,
    force: bool = False,
    seed: int = 1,
    chunk: int = 20_000,
    collections: int = 200,
    progress: Callable[[int], None] | None = None,
) -> SyntheticReport:
    """Add ``count`` synthetic assets (with their jobs, tags and collection memberships).

    Refuses (``InvalidInput``) unless ``force`` a database that has been used: one holding an
    asset or a generation job that is not synthetic, or an audit event other than identity
    set-up (users, groups, tokens, logins) and earlier synthetic loads. The rows are owned by
    dedicated synthetic users (inactive, no password), never by real ones. Commits every
    ``chunk`` assets.
    """
    if count < 1:
        raise InvalidInput({"count": ["Must be at least 1."]})
    if not force and (used := _real_use()):
        raise InvalidInput({"force": [f"The database holds {used}; pass --force to add synthetic ones anyway."]})
    owners = _synthetic_users()
    rng = random.Random(seed)
    files = synthetic_assets.make_shared_files([size for size in SIZES for _ in range(2)])
    report = SyntheticReport()
    with transaction.atomic():
        tag_ids = _tags()
        collection_ids = _collections(rng, owners, collections)
    report.collections = len(collection_ids)
    now = timezone.now()
    start = now - timedelta(days=730)
    step = timedelta(days=730) / count
    made = 0
    while made < count:
        size = min(chunk, count - made)
        with transaction.atomic():
            made = _chunk(rng, made, size, count, start, step, owners, files, tag_ids, collection_ids, report)
            if made >= count:
                # With the last rows: the event moves the audit chain's head, which is the
                # version the asset list's cached pages are kept under (workspace.page_cache).
                record_event(
                    "library.synthetic_loaded",
                    acting_user=None,
                    system_actor="make_synthetic_library",
                    target=("workspace.library", "synthetic"),
                    data={"count": count, "seed": seed},
                )
        if progress is not None:
            progress(made)
    return report


#: Audit actions a fresh install records before anyone uses it: identity set-up, and this loader.
SET_UP_ACTIONS = ("user.", "group.", "token.", "auth.", "library.synthetic_loaded")
SYNTHETIC_USERS = 8


def _real_use() -> str:
    """What in the database shows real use (empty when nothing does)."""
    if Asset.objects.exclude(job__queue=synthetic_jobs.SYNTHETIC_QUEUE).exists():
        return "real assets"
    if GenerationJob.objects.exclude(queue=synthetic_jobs.SYNTHETIC_QUEUE).exists():
        return "real generation jobs"
    used = AuditEvent.objects.all()
    for prefix in SET_UP_ACTIONS:
        used = used.exclude(action__startswith=prefix)
    return "audit events of real use" if used.exists() else ""


def _synthetic_users() -> list[int]:
    """The ids of the users who own synthetic rows, made on first use: inactive, without a
    usable password, so a synthetic library never speaks for (or lets in) a real person."""
    users = get_user_model()
    ids: list[int] = []
    for n in range(1, SYNTHETIC_USERS + 1):
        user, made = users.objects.get_or_create(username=f"synthetic-{n}", defaults={"is_active": False})
        if made:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        elif user.has_usable_password() or user.is_active:
            raise InvalidInput({"users": [f"{user.get_username()} is a real user's name; rename them first."]})
        ids.append(int(user.pk))
    return ids


def _tags() -> list[int]:
    existing = dict(Tag.objects.filter(name__in=TAGS).values_list("name", "pk"))
    missing = [name for name in TAGS if name not in existing]
    Tag.objects.bulk_create([Tag(name=name) for name in missing], ignore_conflicts=True)
    names = dict(Tag.objects.filter(name__in=TAGS).values_list("name", "pk"))
    return [names[name] for name in TAGS]


def _collections(rng: random.Random, owners: Sequence[int], count: int) -> list[uuid.UUID]:
    made = [
        Collection(
            name=f"{rng.choice(SUBJECTS).title()} {rng.choice(('moodboard', 'campaign', 'picks', 'shortlist'))} {n}",
            description="A synthetic collection.",
            owner_id=rng.choice(owners),
        )
        for n in range(count)
    ]
    Collection.objects.bulk_create(made)
    return [c.pk for c in made]


def _chunk(
    rng: random.Random,
    made: int,
    size: int,
    total: int,
    start: datetime,
    step: timedelta,
    owners: Sequence[int],
    files: Sequence[synthetic_assets.SharedFile],
    tag_ids: Sequence[int],
    collection_ids: Sequence[uuid.UUID],
    report: SyntheticReport,
) -> int:
    jobs: list[dict[str, Any]] = []
    assets: list[dict[str, Any]] = []
    tag_links: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    statuses = [s for s, _ in STATUS_WEIGHTS]
    status_weights = [w for _, w in STATUS_WEIGHTS]
    model_weights = [m.weight for m in _MODELS]
    # Tag popularity falls off with rank (a few tags on many assets, most on few).
    tag_weights = [1.0 / (rank + 1) for rank in range(len(tag_ids))]
    end = made + size
    while made < end:
        model = rng.choices(_MODELS, model_weights)[0]
        images = min(rng.choice((1, 1, 1, 2, 4)), end - made)
        prompt = _prompt(rng)
        # One rare word per RARE_EVERY assets (one in a smaller library), mid-way through each,
        # in a job of one image (a job's images share its prompt).
        every = min(RARE_EVERY, total)
        rare = made % every == every // 2 and made // every < len(RARE_WORDS)
        if rare:
            word = RARE_WORDS[made // every]
            report.rare_words[word] = report.rare_words.get(word, 0) + 1
            prompt, images = f"{prompt}, {word}", 1
        else:
            upcoming = made - made % every + every // 2
            if made < upcoming < made + images:
                images = upcoming - made
        created = start + step * made
        owner = rng.choice(owners)
        job_id = uuid.uuid4()
        seed = rng.randrange(2**31)
        shared = rng.choice(files)
        jobs.append(
            {
                "id": job_id, "plugin_id": model.plugin_id, "plugin_version": model.plugin_version,
                "status": "succeeded", "prompt": prompt, "width": shared.width, "height": shared.height,
                "seed": seed, "num_images": images, "params": model.params, "progress_step": 1,
                "progress_total": 1, "attempts": 1, "requested_by_id": owner, "worker": "synthetic",
                "cost": model.cost * images if model.cost is not None else None, "created_at": created,
                "enqueued_at": created, "started_at": created, "heartbeat_at": created, "finished_at": created,
            }
        )  # fmt: skip
        for index in range(images):
            status = rng.choices(statuses, status_weights)[0]
            asset_id = uuid.uuid4()
            deleted = rng.random() < 0.005
            assets.append(
                {
                    "id": asset_id, "job_id": job_id, "index_in_job": index, "file": shared.name,
                    "thumbnail": shared.thumbnail, "sha256": shared.sha256, "pixel_sha256": shared.pixel_sha256,
                    "byte_size": shared.byte_size, "mime_type": "image/png", "width": shared.width,
                    "height": shared.height, "prompt": prompt, "seed": seed + index, "params": model.params,
                    "plugin_id": model.plugin_id, "plugin_version": model.plugin_version,
                    "model_identity": model.identity, "license": model.license, "status": status,
                    "created_by_id": owner, "created_at": created + timedelta(milliseconds=index),
                    "deleted_at": created + timedelta(days=1) if deleted else None,
                    "deleted_by_id": owner if deleted else None,
                }
            )  # fmt: skip
            for tag in set(rng.choices(tag_ids, tag_weights, k=rng.choice((0, 1, 1, 2, 3)))):
                tag_links.append({"asset_id": asset_id, "tag_id": tag, "tagged_by_id": owner, "tagged_at": created})
            if rng.random() < 0.05:
                items.append(
                    {"collection_id": rng.choice(collection_ids), "asset_id": asset_id, "added_by_id": owner, "added_at": created}
                )
        made += images
    report.jobs += synthetic_jobs.load_jobs(jobs)
    report.assets += synthetic_assets.load_assets(assets)
    report.tag_links += load_rows(AssetTag, tag_links)
    report.collection_items += load_rows(CollectionItem, items)
    return made
