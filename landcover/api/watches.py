"""Watched areas: a signed-in user saves a place, a model, a step (month, season, year) and alert rules; each new
period is mapped and compared with the one before, and the rules it sets off are sent by e-mail, by a signed
webhook and in an Atom feed. The owner lists, edits (name, rules, delivery), pauses and deletes them; nobody else
sees them (404). The feed is opened by its token, so a feed reader needs no account."""
from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.http import Http404
from django.urls import path, reverse
from django.utils.feedgenerator import Atom1Feed
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import parsers, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from hrmars_site.parsers import JSONBodyParser
from ml.classes import Scheme, card_scheme
from ml.periods import STEPS

from ..errors import InvalidInput, LimitReached, NotFound
from ..jobs import watches
from ..models import WatchedArea, WatchPeriod
from . import factory
from .aoi import AREA_PROPERTIES, area_from, body_of, map_parameters
from .factory import NOT_SIGNED_IN

WATCH_REQUEST = {"type": "object", "properties": {
    **AREA_PROPERTIES,
    "name": {"type": "string"},
    "step": {"type": "string", "enum": list(STEPS)},
    "method": {"type": "string", "enum": ["mode", "mean"]},
    "rules": {"type": "array", "items": {"type": "object"}, "description": "e.g. [{\"class\": \"Forest\", \"change\": "
                                                                          "\"loses\", \"more_than\": 5, \"unit\": "
                                                                          "\"ha\"}]"},
    "email": {"type": "boolean"}, "webhook_url": {"type": "string"}, "paused": {"type": "boolean"}}}
EDITABLE = ("name", "rules", "email", "webhook_url", "paused")
NOT_YOURS = OpenApiResponse(description="No such watched area of yours")


class WatchSerializer(serializers.Serializer):
    """A watched area (landcover.api.watches.watch_representation)."""
    id = serializers.IntegerField()
    url = serializers.URLField()
    name = serializers.CharField()
    area_km2 = serializers.FloatField()
    bounds = serializers.ListField(child=serializers.FloatField())
    step = serializers.CharField()
    method = serializers.CharField()
    model = serializers.CharField()
    rules = serializers.ListField(child=serializers.DictField())
    rules_in_words = serializers.ListField(child=serializers.CharField())
    email = serializers.BooleanField()
    webhook_url = serializers.CharField()
    webhook_secret = serializers.CharField(help_text="The HMAC-SHA256 key of X-HRMARS-Signature")
    paused = serializers.BooleanField()
    feed = serializers.URLField(help_text="The Atom feed of its alerts (opened by its token)")
    checked_at = serializers.DateTimeField(allow_null=True)
    periods = serializers.ListField(child=serializers.DictField())


def watch_representation(watched: WatchedArea, request) -> dict:
    """A watched area with its periods (status, composite, change, rules set off, alert and delivery)."""
    url = request.build_absolute_uri(reverse("api:watch-detail", args=[watched.pk]))
    feed = request.build_absolute_uri(reverse("api:watch-feed", args=[watched.pk, watched.feed_token]))
    return {"id": watched.pk, "url": url, "name": watched.name, "area_km2": round(watched.area_km2, 6),
            "bounds": list(watched.geometry.extent), "step": watched.step, "method": watched.method,
            "model": watched.model_version.name, "rules": watched.rules,
            "rules_in_words": [watches.describe(r, card_scheme(watched.model_version.card)) for r in watched.rules],
            "email": watched.email,
            "webhook_url": watched.webhook_url, "webhook_secret": watched.secret, "paused": watched.paused,
            "feed": feed, "checked_at": watched.checked_at,
            "periods": [{"period": p.period, "start": p.start, "end": p.end, "status": p.status, "reason": p.reason,
                         "composite": p.composite_id, "previous": p.previous, "change": p.change_id,
                         "changes": p.changes, "triggered": p.triggered, "alerted_at": p.alerted_at,
                         "delivery": p.delivery} for p in watched.periods.all()]}


def edits(data, partial: bool, scheme: Scheme) -> dict:
    """The editable fields of a request, checked (rules' classes: the model's, `scheme`)."""
    found: dict[str, object] = {}
    if not partial or "name" in data:
        name = str(data.get("name") or "").strip()
        if not name or len(name) > 120:
            raise InvalidInput("name", "name must be 1 to 120 characters.")
        found["name"] = name
    if not partial or "rules" in data:
        found["rules"] = watches.check_rules(data.get("rules", []), scheme)
    for flag in ("email", "paused"):
        if flag in data:
            if not isinstance(data[flag], bool):
                raise InvalidInput(flag, f"{flag} must be true or false.")
            found[flag] = data[flag]
    if "webhook_url" in data:
        found["webhook_url"] = watches.check_webhook(str(data["webhook_url"] or "")[:500])
    return found


def signed_in(request):
    """The requester, who must be signed in (NotSignedIn otherwise)."""
    return factory.signed_in(request, "Sign in to watch an area: alerts go to your account.")


def own(request, pk: int) -> WatchedArea:
    """The requester's watched area `pk` (NotFound for anybody else's: it is not theirs to know of)."""
    watched = WatchedArea.objects.filter(pk=pk, owner=signed_in(request)).select_related("model_version").first()
    if watched is None:
        raise NotFound(f"No watched area {pk}.")
    return watched


class WatchList(APIView):
    """GET: your watched areas. POST: watch an area (as an area map is given, up to HRMARS_COMPOSITE_MAX_KM2), by
    `step` (month, season, year) and `method`, with `rules`, `email` and an optional `webhook_url`."""
    parser_classes = [JSONBodyParser, parsers.MultiPartParser]

    @extend_schema(operation_id="v1_watches_list", responses={200: WatchSerializer(many=True),
                                                              401: NOT_SIGNED_IN})
    def get(self, request):
        rows = WatchedArea.objects.filter(owner=signed_in(request)).select_related("model_version").order_by("-pk")
        return Response([watch_representation(w, request) for w in rows])

    @extend_schema(operation_id="v1_watches_create",
                   request={"application/json": WATCH_REQUEST, "multipart/form-data": WATCH_REQUEST},
                   responses={201: WatchSerializer, 400: OpenApiResponse(description="A field is wrong"),
                              401: NOT_SIGNED_IN,
                              429: OpenApiResponse(description="Too many watched areas")})
    def post(self, request):
        user = signed_in(request)
        data = body_of(request)
        asked = map_parameters(request)
        fields = edits(data, partial=False, scheme=card_scheme(asked.version.card))
        geometry, km2 = area_from(request, settings.COMPOSITE_MAX_KM2)
        step, method = data.get("step") or "month", data.get("method") or "mode"
        if step not in STEPS:
            raise InvalidInput("step", f"step must be one of {', '.join(STEPS)}.")
        if method not in ("mode", "mean"):
            raise InvalidInput("method", "method must be one of mode, mean.")
        if WatchedArea.objects.filter(owner=user).count() >= settings.WATCH_MAX_PER_USER:
            raise LimitReached(f"You watch {settings.WATCH_MAX_PER_USER} areas already (HRMARS_WATCH_MAX_PER_USER); "
                               "delete one first.")
        watched = WatchedArea.objects.create(
            owner=user, geometry=geometry,
            area_km2=km2, model_version=asked.version, step=step, method=method, max_cloud=asked.max_cloud,
            imagery_source=asked.source, secret=secrets.token_hex(32), feed_token=secrets.token_urlsafe(24), **fields)
        data = watch_representation(watched, request)
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": data["url"]})


class WatchDetail(APIView):
    """GET one of your watched areas with its periods; PATCH its name, rules, e-mail, webhook or pause; DELETE it
    (its periods go with it; the composites stay, as any composite does)."""
    parser_classes = [JSONBodyParser]

    @extend_schema(operation_id="v1_watches_read", responses={200: WatchSerializer, 401: NOT_SIGNED_IN,
                                                              404: NOT_YOURS})
    def get(self, request, pk: int):
        return Response(watch_representation(own(request, pk), request))

    @extend_schema(operation_id="v1_watches_update", request={"application/json": WATCH_REQUEST},
                   responses={200: WatchSerializer, 400: OpenApiResponse(description="A field is wrong"),
                              401: NOT_SIGNED_IN, 404: NOT_YOURS})
    def patch(self, request, pk: int):
        watched = own(request, pk)
        data = body_of(request)
        fixed = sorted(set(data) - set(EDITABLE))
        if fixed:
            raise InvalidInput(fixed[0], f"{fixed[0]} cannot change: the periods mapped so far are of this place, "
                                         "step and model; watch a new area instead.")
        for name, value in edits(data, partial=True, scheme=card_scheme(watched.model_version.card)).items():
            setattr(watched, name, value)
        watched.save()
        return Response(watch_representation(watched, request))

    @extend_schema(operation_id="v1_watches_delete", responses={204: None, 401: NOT_SIGNED_IN, 404: NOT_YOURS})
    def delete(self, request, pk: int):
        own(request, pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class WatchFeed(Feed):
    """The Atom feed of a watched area's alerts, newest first, opened by its token."""
    feed_type = Atom1Feed

    def get_object(self, request, pk: int, token: str) -> WatchedArea:
        watched = WatchedArea.objects.filter(pk=pk).first()
        if watched is None or not secrets.compare_digest(watched.feed_token, token):
            raise Http404("No such feed.")
        return watched

    def title(self, obj: WatchedArea) -> str:
        return f"HR-MARS alerts: {obj.name}"

    def link(self, obj: WatchedArea) -> str:
        return reverse("api:watch-detail", args=[obj.pk])

    def subtitle(self, obj: WatchedArea) -> str:
        return "; ".join(watches.describe(r, card_scheme(obj.model_version.card)) for r in obj.rules) or "no rules"

    def items(self, obj: WatchedArea):
        return WatchPeriod.objects.filter(watched=obj, alerted_at__isnull=False).order_by("-alerted_at")[:50]

    def item_title(self, item: WatchPeriod) -> str:
        return f"{item.period}: {len(item.triggered)} rule(s) set off"

    def item_description(self, item: WatchPeriod) -> str:
        return "; ".join(item.triggered)

    def item_link(self, item: WatchPeriod) -> str:
        return reverse("api:composite-detail", args=[item.composite_id]) if item.composite_id else "/"

    def item_guid(self, item: WatchPeriod) -> str:
        return f"hrmars-watch-{item.watched_id}-{item.period}"

    def item_pubdate(self, item: WatchPeriod):
        return item.alerted_at

    def item_updateddate(self, item: WatchPeriod):
        return item.alerted_at


ROUTES = [path("watches/", WatchList.as_view(), name="watch-list"),
          path("watches/<id:pk>/", WatchDetail.as_view(), name="watch-detail"),
          path("watches/<id:pk>/alerts/<str:token>.atom", WatchFeed(), name="watch-feed")]
