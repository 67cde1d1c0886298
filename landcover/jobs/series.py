"""Time series of class areas (issue 25): an area's land cover period by period (months, seasons or years over a
range), one composite per period, their class areas side by side as a table (series.csv, series.json) and a
chart (series.png).

A series job asks for each period's composite as anybody would (`composites.request_composite`: the same place,
period, method, cloud limit, source and model give the same composite), runs a new one right here, and waits for
one that another job is making; every composite maps its scenes once (`SceneMap`), so a series over periods that
share scenes with earlier composites maps only what is new. A period without clear imagery is a gap with its
reason, not a failure of the series. The composites stay: each period's map is a product of its own (tiles,
downloads, change between two periods).
"""
from __future__ import annotations

import csv
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from django.conf import settings
from django.contrib.gis.geos import MultiPolygon

from ml.classes import Scheme, card_scheme
from ml.figures import plot_series
from ml.imagery import NoImagery
from ml.periods import Period, periods

from ..catalogue.registry import refuse_coarse
from ..errors import InvalidInput
from ..models import CompositeMap, ModelVersion, TimeSeries
from . import composites, lifecycle, products
from .areas import area_key
from .lifecycle import Cancelled, Progress
from .products import File, Product

FILES = ("series.csv", "series.json", "series.png")
WAIT_SECONDS = 2.0  # how often a composite another job is making is looked at


def period_list(start: date, end: date, step: str) -> list[Period]:
    """The periods of a request, checked against HRMARS_SERIES_MAX_PERIODS."""
    found = periods(start, end, step)
    if len(found) > settings.SERIES_MAX_PERIODS:
        raise InvalidInput("end", f"This range holds {len(found)} {step}s; a series has at most "
                                  f"{settings.SERIES_MAX_PERIODS} (HRMARS_SERIES_MAX_PERIODS): shorten it or take a "
                                  "longer step.")
    return found


def composite_of(series: TimeSeries, period: Period) -> CompositeMap:
    """The period's composite, made here if it is new, waited for if another job is making it."""
    composite, _ = composites.request_composite(
        series.geometry, series.area_km2, start=period.start, end=period.end, period=period.name,
        method=series.method, max_cloud=series.max_cloud, source=series.imagery_source,
        version=series.model_version, user=series.requested_by, run_here=True)
    job = composites.COMPOSITE_JOB
    waited = 0.0
    while composite.status in job.active and waited < settings.MAP_STALE_SECONDS:
        if TimeSeries.objects.filter(pk=series.pk, status=TimeSeries.Status.CANCELLED).exists():
            raise Cancelled()
        time.sleep(WAIT_SECONDS)
        waited += WAIT_SECONDS
        composite.refresh_from_db()
    return composite


def period_row(period: Period, composite: CompositeMap) -> dict:
    """One period of the series: its days, its composite and what it holds (class areas in ha)."""
    row = {"period": period.name, "start": str(period.start), "end": str(period.end), "composite": composite.pk,
           "status": composite.status, "scenes": 0, "dates": [], "mapped_ha": None, "classes": {}, "warnings": []}
    if composite.status == CompositeMap.Status.DONE:
        classes = {str(r["code"]): round(r["area_km2"] * 100, 4) for r in composite.statistics}
        row.update(scenes=composite.imagery.get("scenes", 0), dates=composite.imagery.get("dates", []),
                   mapped_ha=round(sum(classes.values()), 4), classes=classes, warnings=composite.warnings)
    else:
        row["error"] = lifecycle.public_message(composite.error or composite.status)
    return row


def build(series: TimeSeries, work: Path, progress: Progress) -> dict:
    """Each period's composite (made or found), then the table and the chart in `work`."""
    wanted = period_list(series.start, series.end, series.step)
    rows = []
    for k, period in enumerate(wanted):
        rows.append(period_row(period, composite_of(series, period)))
        progress(k + 1, len(wanted))
    codes = sorted({int(c) for r in rows for c in r["classes"]})
    scheme = card_scheme(series.model_version.card)
    write_csv(rows, codes, work / "series.csv", scheme)
    (work / "series.json").write_text(json.dumps({"area_km2": series.area_km2, "step": series.step,
                                                  "method": series.method, "periods": rows}, indent=1))
    plot_series([r["period"] for r in rows], {c: [r["classes"].get(str(c)) if r["status"] == "done" else None
                                                  for r in rows] for c in codes},
                work / "series.png", title=f"Land cover by {series.step} ({series.method} composites)", scheme=scheme)
    if not any(r["status"] == "done" for r in rows):
        reasons = sorted({r.get("error", "") for r in rows} - {""})
        raise NoImagery(f"no period of the range has clear imagery ({reasons[0] if reasons else ''})")
    return {"periods": rows}


def write_csv(rows: list[dict], codes: list[int], path: Path, scheme: Scheme) -> None:
    """series.csv: a row per period — its days, scenes, dates, mapped area — and each class's ha and % (the
    columns named by `scheme`'s classes)."""
    names = {c: "_".join(scheme.get(c, (str(c), ""))[0].lower().replace("/", " ").split()) for c in codes}
    columns = ["period", "start", "end", "status", "scenes", "dates", "mapped_ha",
               *[f"{names[c]}_ha" for c in codes], *[f"{names[c]}_percent" for c in codes]]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for r in rows:
            cells: list[float | str] = [""] * (2 * len(codes))  # a gap: no composite for the period
            if r["status"] == "done":
                areas = [float(r["classes"].get(str(c), 0.0)) for c in codes]
                mapped = r["mapped_ha"] or 0
                cells = [*areas, *[round(100 * a / mapped, 4) if mapped else 0.0 for a in areas]]
            writer.writerow([r["period"], r["start"], r["end"], r["status"], r["scenes"], " ".join(r["dates"]),
                             "" if r["mapped_ha"] is None else r["mapped_ha"], *cells])


class SeriesProduct(Product):
    """Time series: a table and a chart of class areas per period (each period's map is its composite)."""

    kind, prefix, noun, root_setting = "series", "series", "time series", "SERIES_DIR"
    collection = None
    files = (File("series.csv", "text/csv", "Class areas per period (CSV)", ("data",), "", "csv"),
             File("series.json", "application/json", "Class areas per period", ("data",), "", "json"),
             File("series.png", "image/png", "Class areas per period (chart)", ("overview",), "", "chart"))
    layers = ()
    land_cover = False
    main_file = "series.json"
    owner_field = "requested_by"
    geometry_field = "geometry"
    related = ("model_version",)

    def bounds(self, row) -> tuple[float, float, float, float]:
        return row.geometry.extent

    def geometry(self, row) -> dict:
        return json.loads(row.geometry.geojson)

    def label(self, row) -> str:
        return f"series {row.pk} ({row.start} to {row.end} by {row.step})"

    def download_name(self, row, name: str) -> str:
        return f"series-{row.pk}-{name}"


SERIES_JOB = lifecycle.queued_kind(
    "series", "landcover.compute_series", TimeSeries, build, staging=lambda series: SERIES_PRODUCT.root() / ".tmp",
    destination=lambda series: SERIES_PRODUCT.folder(series), related=("model_version",))
SERIES_PRODUCT: SeriesProduct = products.register(SeriesProduct(SERIES_JOB))


def request_series(geometry: MultiPolygon, area_km2: float, *, start: date, end: date, step: str, method: str,
                   max_cloud: float, source: str, version: ModelVersion, user=None,
                   before_new: Callable[[], None] | None = None) -> tuple[TimeSeries, bool]:
    """The series for this request and whether it was created now (and queued)."""
    refuse_coarse(version)
    period_list(start, end, step)  # too many periods: a 400 before anything is made
    owner = user if user is not None and user.is_authenticated else None
    key = hashlib.sha256(f"series|{step}|{method}|{area_key(geometry, start, end, max_cloud, source, version, owner)}"
                         .encode()).hexdigest()
    return lifecycle.find_or_queue(
        SERIES_JOB, {"key": key},
        {"token": secrets.token_urlsafe(24), "geometry": geometry, "area_km2": area_km2, "start": start, "end": end,
         "step": step, "method": method, "max_cloud": max_cloud, "imagery_source": source, "model_version": version,
         "requested_by": owner},
        settings.MAP_STALE_SECONDS, before_new)
