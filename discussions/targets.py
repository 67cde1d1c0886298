"""What can have a discussion thread, who may see it, and where it lives on the site: competitions and their
entries, and the maps people make (catalogue maps, areas, regions, composites). One table, read by the moderator,
the thread pages and the Discussions page; who may see a map is the product registry's rule, a competition's the
competitions' — never a second copy here, so a thread is never shown to somebody its object is hidden from."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Model, Q
from django.urls import reverse

from landcover.jobs.areas import AREA_PRODUCT
from landcover.jobs.composites import COMPOSITE_PRODUCT
from landcover.jobs.maps import MAP_PRODUCT
from landcover.jobs.regions import REGION_PRODUCT
from landcover.jobs.submissions import benchmark_visibility, submission_visibility
from landcover.models import Benchmark, Submission

MAP_PRODUCTS = (MAP_PRODUCT, AREA_PRODUCT, REGION_PRODUCT, COMPOSITE_PRODUCT)


@dataclass(frozen=True)
class Target:
    """A model whose rows can have threads."""

    model: type[Model]
    noun: str
    visible: Callable[[object], Q]          # the rows a user may see
    page: Callable[[Any], str] | None       # its own page; None: its thread page is its page


def targets() -> list[Target]:
    """Every model that has threads."""
    found = [Target(Benchmark, "competition", benchmark_visibility,
                    lambda b: reverse("landcover:competition", args=[b.slug])),
             Target(Submission, "competition entry", submission_visibility,
                    lambda s: reverse("landcover:submission", args=[s.pk]))]
    for product in MAP_PRODUCTS:
        found.append(Target(product.job.model, product.noun, product.visible, None))
    return found


def target_of(model: type[Model]) -> Target | None:
    """The target of a model; None when it has no threads."""
    return next((t for t in targets() if t.model is model), None)


def by_name(name: str) -> Target | None:
    """The target of a URL's model name; None when it is not one."""
    return next((t for t in targets() if t.model._meta.model_name == name), None)


def thread_url(obj: Model) -> str:
    """The thread page of an object (every target has one)."""
    return reverse("discussions:thread", args=[obj._meta.model_name, obj.pk])


def noun_of(obj: Model) -> str:
    """What a thread's object is, in words."""
    target = target_of(type(obj))
    return target.noun if target else "page"


def page_of(obj: Model) -> str:
    """The page a thread's object is shown on: its own page, else its thread page."""
    target = target_of(type(obj))
    return target.page(obj) if target and target.page else thread_url(obj)


def find(user, name: str, pk: int) -> Model | None:
    """The object `name`/`pk` if it has threads and `user` may see it; else None."""
    target = by_name(name)
    if target is None:
        return None
    return target.model._default_manager.filter(target.visible(user), pk=pk).first()
