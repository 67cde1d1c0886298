"""Watched areas (issue 25): a signed-in user's place, mapped period after period, with alerts.

The beat (django-celery-beat: its schedule is a row, `landcover.watch_areas` every HRMARS_WATCH_CHECK_SECONDS)
runs `check_all`. For each watched area not paused, the newest period that has ended (the last month, season or
year before today) gets a `WatchPeriod` row — one per area and period, a database constraint — and its composite,
asked for as anybody would (`composites.request_composite`, made in this task when new). No imagery yet: the
period waits, and the next look tries again. Once mapped, its class areas are compared with the last period
mapped before it, a change map between the two is queued, and the area's rules ("Forest loses more than 5 ha",
"any class changes by more than 2 %") are applied. The row turns done under a row lock, and the first look that
turns it done with rules set off sends the alert — e-mail to the owner, a webhook signed with HMAC-SHA256 of the
body under the area's secret (`X-HRMARS-Signature: sha256=…`), and an entry of the area's Atom feed — so an alert
is never sent twice for one period, however many beats or workers look at once.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from ml.classes import DFC, Scheme, card_scheme
from ml.periods import Period, periods

from ..errors import InvalidInput
from ..models import CompositeMap, WatchedArea, WatchPeriod
from . import composites, lifecycle
from .change import request_change
from .products import stored_map

log = logging.getLogger(__name__)
CHANGES = ("loses", "gains", "changes")
UNITS = ("ha", "%")


# --- Rules.

def check_rules(rules, scheme: Scheme = DFC) -> list[dict]:
    """The rules of a request in their stored shape, classes by code or name of `scheme` (the model's classes: ours,
    or a legend's); InvalidInput saying what is wrong with the first bad one."""
    names = {name.lower(): code for code, (name, _) in scheme.items()}
    if not isinstance(rules, list) or len(rules) > 20:
        raise InvalidInput("rules", "rules must be a list of at most 20 rules like {\"class\": \"Forest\", \"change\": "
                                    "\"loses\", \"more_than\": 5, \"unit\": \"ha\"}.")
    checked = []
    for k, rule in enumerate(rules, 1):
        if not isinstance(rule, dict):
            raise InvalidInput("rules", f"rule {k} is not an object.")
        klass = rule.get("class", "any")
        if isinstance(klass, str) and klass.lower() in names:
            klass = names[klass.lower()]
        if klass != "any" and klass not in scheme:
            raise InvalidInput("rules", f"rule {k}: class must be 'any', a class code ({', '.join(map(str, scheme))}) "
                                        f"or a name ({', '.join(name for name, _ in scheme.values())}).")
        change = rule.get("change", "changes")
        if change not in CHANGES:
            raise InvalidInput("rules", f"rule {k}: change must be one of {', '.join(CHANGES)}.")
        unit = rule.get("unit", "ha")
        if unit not in UNITS:
            raise InvalidInput("rules", f"rule {k}: unit must be ha or %.")
        try:
            more_than = float(rule.get("more_than", ""))
        except (TypeError, ValueError):
            more_than = -1.0
        if not more_than >= 0:
            raise InvalidInput("rules", f"rule {k}: more_than must be a number of ha or % (0 or more).")
        checked.append({"class": klass, "change": change, "more_than": more_than, "unit": unit})
    return checked


def describe(rule: dict, scheme: Scheme = DFC) -> str:
    """A rule in words: 'Forest loses more than 5 ha', 'any class changes by more than 2 %'."""
    who = "any class" if rule["class"] == "any" else scheme.get(rule["class"], (str(rule["class"]), ""))[0]
    verb = "changes by" if rule["change"] == "changes" else rule["change"]
    amount = f"{rule['more_than']:g} {rule['unit']}" if rule["unit"] == "ha" else f"{rule['more_than']:g} %"
    return f"{who} {verb} more than {amount}"


def compare(before: list[dict], after: list[dict], area_ha: float, scheme: Scheme = DFC) -> list[dict]:
    """Per class: ha before and after, the difference, and the difference as % of the watched area."""
    ha_before = {r["code"]: r["area_km2"] * 100 for r in before}
    ha_after = {r["code"]: r["area_km2"] * 100 for r in after}
    rows = []
    for code in sorted(set(ha_before) | set(ha_after)):
        a, b = ha_before.get(code, 0.0), ha_after.get(code, 0.0)
        rows.append({"code": code, "name": scheme.get(code, (str(code), ""))[0], "before_ha": round(a, 4),
                     "after_ha": round(b, 4), "change_ha": round(b - a, 4),
                     "change_percent": round(100 * (b - a) / area_ha, 4) if area_ha else 0.0})
    return rows


def set_off(rules: list[dict], changes: list[dict], scheme: Scheme = DFC) -> list[str]:
    """The rules the changes set off, each in words with what happened."""
    found = []
    for rule in rules:
        for row in changes:
            if rule["class"] not in ("any", row["code"]):
                continue
            amount = row["change_ha"] if rule["unit"] == "ha" else row["change_percent"]
            hit = {"loses": -amount > rule["more_than"], "gains": amount > rule["more_than"],
                   "changes": abs(amount) > rule["more_than"]}[rule["change"]]
            if hit:
                unit = "ha" if rule["unit"] == "ha" else "% of the area"
                found.append(f"{describe(rule, scheme)}: {row['name']} {amount:+.2f} {unit}")
    return found


# --- Webhooks.

def check_webhook(url: str) -> str:
    """A webhook address the site may post to: http(s), and a public host unless private ones are allowed
    (InvalidInput otherwise: no request to the site's own network on a stranger's word)."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("webhook_url", "webhook_url must be an http:// or https:// address.")
    if not settings.WATCH_WEBHOOK_ALLOW_PRIVATE:
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
        except OSError:
            raise InvalidInput("webhook_url", f"{parts.hostname[:60]} cannot be resolved.") from None
        for address in addresses:
            ip = ipaddress.ip_address(str(address).split("%")[0])
            if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
                raise InvalidInput("webhook_url", "webhook_url must be a public address (this site does not post to "
                                                  "private, loopback or link-local networks).")
    return url


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: sha256=HMAC-SHA256(secret, body) in hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(watched: WatchedArea, payload: dict) -> str:
    """POST the alert to the area's webhook; what happened, in a word or a status code."""
    body = json.dumps(payload, default=str, sort_keys=True).encode()
    request = urllib.request.Request(watched.webhook_url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "HR-MARS alerts", "X-HRMARS-Event": "alert",
        "X-HRMARS-Signature": sign(watched.secret, body)})
    try:
        with urllib.request.urlopen(request, timeout=settings.WATCH_WEBHOOK_TIMEOUT) as answer:
            return str(answer.status)
    except urllib.error.HTTPError as exc:
        return str(exc.code)
    except (urllib.error.URLError, OSError) as exc:
        return f"failed: {str(exc)[:120]}"


# --- The beat's task.

def latest_period(step: str, today: date) -> Period:
    """The newest period of `step` that has ended before `today`."""
    ended = [p for p in periods(today - timedelta(days=800), today, step) if p.end < today]
    return ended[-1]


def check_all(now: datetime | None = None) -> dict:
    """Every watched area not paused, looked at once (`now`: the moment to act as of; the beat's time)."""
    now = now or timezone.now()
    outcome: dict[str, int] = {}
    for watched in WatchedArea.objects.filter(paused=False).select_related("owner", "model_version"):
        try:
            result = check(watched, now)
        except Exception:  # one area's trouble is logged; the others are still looked at
            log.exception("watched area %s could not be checked", watched.pk)
            result = "error"
        outcome[result] = outcome.get(result, 0) + 1
    return outcome


def check(watched: WatchedArea, now: datetime) -> str:
    """Map the area's newest ended period if it is not done yet, compare, and alert once."""
    WatchedArea.objects.filter(pk=watched.pk).update(checked_at=timezone.now())
    period = latest_period(watched.step, now.date())
    row, _ = WatchPeriod.objects.get_or_create(watched=watched, period=period.name,
                                               defaults={"start": period.start, "end": period.end})
    if row.status == WatchPeriod.Status.DONE:
        return "seen"
    composite, _ = composites.request_composite(
        watched.geometry, watched.area_km2, start=period.start, end=period.end, period=period.name,
        method=watched.method, max_cloud=watched.max_cloud, source=watched.imagery_source,
        version=watched.model_version, user=watched.owner, run_here=True)
    if composite.status in (CompositeMap.Status.FAILED, CompositeMap.Status.CANCELLED) and row.composite_id:
        composites.retry_here(composite)  # waited before: its imagery may be there now
    if composite.status != CompositeMap.Status.DONE:
        WatchPeriod.objects.filter(pk=row.pk).update(composite=composite, reason=lifecycle.public_message(
            composite.error or f"its composite is {composite.status}"))
        return "waiting"
    previous = (WatchPeriod.objects.filter(watched=watched, status=WatchPeriod.Status.DONE, start__lt=period.start)
                .select_related("composite").order_by("-start").first())
    changes, triggered, change = [], [], None
    if previous is not None and previous.composite is not None:
        scheme = card_scheme(watched.model_version.card)
        changes = compare(previous.composite.statistics, composite.statistics, watched.area_km2 * 100, scheme)
        triggered = set_off(watched.rules, changes, scheme)
        change, _ = request_change(stored_map("composite", previous.composite.pk, check_access=False),
                                   stored_map("composite", composite.pk, check_access=False), None, watched.owner)
    with transaction.atomic():
        locked = WatchPeriod.objects.select_for_update().get(pk=row.pk)
        if locked.status == WatchPeriod.Status.DONE:
            return "seen"
        send = bool(triggered) and locked.alerted_at is None
        locked.status, locked.composite, locked.change, locked.reason = WatchPeriod.Status.DONE, composite, change, ""
        locked.previous, locked.changes, locked.triggered = previous.period if previous else "", changes, triggered
        if send:
            locked.alerted_at = timezone.now()
        locked.save()
    if send:
        deliver(watched, locked)
        return "alerted"
    return "mapped"


def alert_payload(watched: WatchedArea, row: WatchPeriod) -> dict:
    """What an alert says, in the webhook's JSON and the e-mail."""
    return {"event": "alert", "watched_area": {"id": watched.pk, "name": watched.name},
            "period": {"name": row.period, "start": row.start, "end": row.end}, "previous": row.previous,
            "triggered": row.triggered, "changes": row.changes, "composite": row.composite_id, "change": row.change_id,
            "alerted_at": row.alerted_at}


def deliver(watched: WatchedArea, row: WatchPeriod) -> dict:
    """Send the alert by e-mail and webhook (each as set); their outcome is kept on the period."""
    delivery: dict[str, str] = {}
    if watched.email:
        if watched.owner.email:
            body = (f"{watched.name}, {row.period} against {row.previous}:\n\n"
                    + "\n".join(f"- {line}" for line in row.triggered)
                    + f"\n\nThe composite: /api/v1/composites/{row.composite_id}/"
                    + (f"\nThe change map: /api/v1/changes/{row.change_id}/" if row.change_id else ""))
            try:
                send_mail(f"HR-MARS alert: {watched.name}, {row.period}", body, settings.DEFAULT_FROM_EMAIL,
                          [watched.owner.email])
                delivery["email"] = "sent"
            except (OSError, ValueError) as exc:
                delivery["email"] = f"failed: {str(exc)[:120]}"
        else:
            delivery["email"] = "no address"
    if watched.webhook_url:
        delivery["webhook"] = post_webhook(watched, alert_payload(watched, row))
    WatchPeriod.objects.filter(pk=row.pk).update(delivery=delivery)
    return delivery
