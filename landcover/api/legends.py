"""Legends of one's own (issue 27): a signed-in user's classes and labelled samples, trainings of legend models on
them, and the models they make (listed with /api/v1/models/, used like any model by name). A legend is its owner's
alone unless shared; anybody else gets 404 for it, its samples, trainings and models, as for one that does not
exist. Requests never compute: a training is a job (202 with its URL)."""
from __future__ import annotations

from django.urls import path, reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import parsers, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..errors import InvalidInput
from ..jobs import legends
from ..models import Legend, LegendTraining
from ..validation.samples import Classes, from_geojson_samples, legend_classes, read_samples
from . import factory
from .aoi import body_of, imagery_parameters
from .factory import NOT_SIGNED_IN
from .limits import count_file_sent

NO_LEGEND = OpenApiResponse(description="No such legend (of yours, for a change)")
REFUSED = OpenApiResponse(description="A field or file is refused: the body names it and says why")


class LegendClassSerializer(serializers.Serializer):
    """One class of a legend."""
    code = serializers.IntegerField(required=False, help_text="1–254; default: its position (1, 2, …)")
    name = serializers.CharField()
    colour = serializers.CharField(help_text="#rrggbb")
    crosswalk = serializers.IntegerField(allow_null=True, required=False,
                                         help_text="The simplified-IGBP class (1–10) it corresponds to, if any")


class LegendSerializer(serializers.Serializer):
    """A legend (landcover.api.legends.legend_representation)."""
    id = serializers.IntegerField(read_only=True)
    url = serializers.URLField(read_only=True)
    owner = serializers.CharField(read_only=True)
    name = serializers.CharField()
    description = serializers.CharField(required=False)
    shared = serializers.BooleanField(required=False)
    classes = LegendClassSerializer(many=True)
    samples = serializers.ListField(child=serializers.DictField(), read_only=True,
                                    help_text="Per class: samples for training and held out")
    samples_url = serializers.URLField(read_only=True)
    trainings_url = serializers.URLField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class TrainingSerializer(serializers.Serializer):
    """A legend training (landcover.api.legends.training_representation)."""
    id = serializers.IntegerField()
    url = serializers.URLField()
    legend = serializers.IntegerField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    error = serializers.CharField()
    encoder = serializers.CharField()
    global_model = serializers.CharField()
    block_m = serializers.FloatField()
    folds = serializers.IntegerField()
    samples = serializers.DictField()
    cv = serializers.DictField(help_text="Spatially blocked cross-validation: OA, per-class UA/PA/F1, confusion")
    comparison = serializers.DictField(help_text="Legend model and global model on the same pixels via the crosswalk")
    assessment = serializers.DictField(help_text="On the held-out samples, with area estimates (Olofsson et al. 2014)")
    model = serializers.CharField(allow_null=True, help_text="The model's name: give it as `model` to map with it")
    statistics = serializers.ListField(child=serializers.DictField())
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


TRAINING_REQUEST = {"application/json": {"type": "object", "properties": {
    "encoder": {"type": "string", "enum": ["dynamicworld", "spectral"]},
    "block_m": {"type": "number", "description": "Side of cross-validation's blocks, m (default 1000)"},
    "folds": {"type": "integer", "description": "2–10 (default 5)"},
    "start": {"type": "string", "format": "date"}, "end": {"type": "string", "format": "date"},
    "max_cloud": {"type": "number"}, "source": {"type": "string"}}}}


def legend_representation(legend: Legend, request) -> dict:
    """A legend with its classes and sample counts."""
    url = request.build_absolute_uri(reverse("api:legend-detail", args=[legend.pk]))
    return {"id": legend.pk, "url": url, "owner": legend.owner.username, "name": legend.name,
            "description": legend.description, "shared": legend.shared, "classes": legend.classes,
            "samples": legends.counts(legend), "samples_url": f"{url}samples/", "trainings_url": f"{url}trainings/",
            "updated_at": legend.updated_at}


def training_representation(row: LegendTraining, request) -> dict:
    """A training: its state and, once done, its accuracy, comparison and model."""
    return {"id": row.pk, "url": request.build_absolute_uri(reverse("api:legend-training-detail", args=[row.pk])),
            "legend": row.legend_id, "status": row.status, "progress": row.progress, "error": row.error,
            "encoder": row.encoder, "global_model": row.global_model.name, "block_m": row.block_m, "folds": row.folds,
            "samples": row.samples, "cv": row.cv, "comparison": row.comparison, "assessment": row.assessment,
            "model": row.model_version.name if row.model_version else None, "statistics": row.statistics,
            "created_at": row.created_at, "finished_at": row.finished_at}


def signed_in(request):
    """The requester, who must be signed in."""
    return factory.signed_in(request, "Sign in to make legends: a legend, its samples and models are yours.")


def _text(data, field: str, limit: int) -> str:
    value = data.get(field, "")
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(field, f"{field} must be text of at most {limit:,} characters.")
    return value


def _flag(data, field: str) -> bool:
    value = data.get(field, False)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class LegendList(APIView):
    """GET: your legends and those shared. POST (JSON): `name`, `classes` ([{name, colour, crosswalk}]), optional
    `description` and `shared` — 201 with the legend."""

    @extend_schema(operation_id="v1_legends_list", responses={200: LegendSerializer(many=True), 401: NOT_SIGNED_IN})
    def get(self, request):
        user = signed_in(request)
        rows = Legend.objects.filter(legends.legend_visibility(user)).select_related("owner")[:500]
        return Response([legend_representation(legend, request) for legend in rows])

    @extend_schema(request=LegendSerializer, responses={201: LegendSerializer, 400: REFUSED, 401: NOT_SIGNED_IN})
    def post(self, request):
        user = signed_in(request)
        data = body_of(request)
        legend = legends.create_legend(user, _text(data, "name", 120), legend_classes(data.get("classes")),
                                       _text(data, "description", 5000), _flag(data, "shared"))
        return Response(legend_representation(legend, request), status=status.HTTP_201_CREATED)


class LegendDetail(APIView):
    """A legend. PATCH (yours): `name`, `description`, `classes` (a class its samples use stays), `shared` (its
    models follow). DELETE (yours): the legend, its samples and trainings (its models stay yours)."""

    @extend_schema(responses={200: LegendSerializer, 404: NO_LEGEND})
    def get(self, request, pk: int):
        return Response(legend_representation(legends.find_legend(request.user, pk), request))

    @extend_schema(request=LegendSerializer, responses={200: LegendSerializer, 400: REFUSED, 401: NOT_SIGNED_IN,
                                                        404: NO_LEGEND})
    def patch(self, request, pk: int):
        legend = legends.find_legend(signed_in(request), pk, own=True)
        data = body_of(request)
        fields = {}
        if "name" in data:
            fields["name"] = _text(data, "name", 120).strip() or legend.name
        if "description" in data:
            fields["description"] = _text(data, "description", 5000)
        legends.update_legend(legend, classes=legend_classes(data["classes"]) if "classes" in data else None, **fields)
        if "shared" in data:
            legends.share(legend, _flag(data, "shared"))
        return Response(legend_representation(legend, request))

    @extend_schema(responses={204: None, 401: NOT_SIGNED_IN, 404: NO_LEGEND})
    def delete(self, request, pk: int):
        legends.find_legend(signed_in(request), pk, own=True).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class LegendSamples(APIView):
    """GET: the legend's samples (GeoJSON). POST (yours): a `file` (CSV lon,lat,class[,held_out]; GeoJSON;
    GeoPackage; zipped Shapefile — points or polygons with a class attribute, by code or name) as multipart, or
    drawn samples as JSON `{"features": <FeatureCollection>}` — all stored or none (400 naming what is wrong).
    DELETE (yours): every sample."""
    parser_classes = [parsers.JSONParser, parsers.MultiPartParser]

    @extend_schema(responses={200: OpenApiResponse(description="GeoJSON FeatureCollection"), 404: NO_LEGEND})
    def get(self, request, pk: int):
        return Response(legends.samples_geojson(legends.find_legend(request.user, pk)))

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}}, "application/json": {"type": "object", "properties": {
            "features": {"type": "object", "description": "GeoJSON FeatureCollection of Points and Polygons"}}}},
        responses={201: OpenApiResponse(description="How many were added, and the counts per class"), 400: REFUSED,
                   401: NOT_SIGNED_IN, 404: NO_LEGEND, 429: OpenApiResponse(description="Too many files sent")})
    def post(self, request, pk: int):
        legend = legends.find_legend(signed_in(request), pk, own=True)
        classes = Classes(legend.classes)
        upload = request.FILES.get("file")
        if upload is not None:
            count_file_sent(request, "legend-files", "files")
            samples = read_samples(upload.name, upload.read(), classes)
            source = upload.name
        else:
            data = body_of(request)
            if "features" not in data:
                raise InvalidInput("file", "Send a file (multipart field `file`) or drawn samples as JSON "
                                           "{\"features\": FeatureCollection}.")
            samples = from_geojson_samples(data.get("features"), classes, field="features")
            source = "drawn"
        added = legends.add_samples(legend, samples, source)
        return Response({"added": added, "samples": legends.counts(legend)}, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, 401: NOT_SIGNED_IN, 404: NO_LEGEND})
    def delete(self, request, pk: int):
        legends.find_legend(signed_in(request), pk, own=True).samples.all().delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class LegendTrainings(APIView):
    """GET: the legend's trainings. POST (yours): train a legend model on its samples now — optional `encoder`
    (dynamicworld when the site's model is Dynamic World, else spectral), `block_m`, `folds`, imagery `start`,
    `end`, `max_cloud`, `source` — 202 with the training's URL (the same samples and parameters: the same one)."""

    @extend_schema(operation_id="v1_legend_trainings_list", responses={200: TrainingSerializer(many=True),
                                                                       404: NO_LEGEND})
    def get(self, request, pk: int):
        legend = legends.find_legend(request.user, pk)
        rows = legend.trainings.select_related("global_model", "model_version")[:100]
        return Response([training_representation(r, request) for r in rows])

    @extend_schema(request=TRAINING_REQUEST, responses={
        202: TrainingSerializer, 400: REFUSED, 401: NOT_SIGNED_IN, 404: NO_LEGEND,
        429: OpenApiResponse(description="HRMARS_LEGEND_TRAININGS_PER_DAY reached")})
    def post(self, request, pk: int):
        user = signed_in(request)
        legend = legends.find_legend(user, pk, own=True)
        data = body_of(request)
        start, end, max_cloud, source = imagery_parameters(data)
        encoder = data.get("encoder")
        if encoder is not None and not isinstance(encoder, str):
            raise InvalidInput("encoder", "encoder must be a name: dynamicworld or spectral.")
        row, _ = legends.request_training(legend, user, encoder_name=encoder or None,
                                          block_m=_number(data, "block_m", 1000.0), folds=int(_number(data, "folds", 5)),
                                          start=start, end=end, max_cloud=max_cloud, source=source)
        row = LegendTraining.objects.select_related("global_model", "model_version").get(pk=row.pk)
        answer = training_representation(row, request)
        return Response(answer, status=status.HTTP_202_ACCEPTED, headers={"Location": answer["url"]})


def _number(data, field: str, default: float) -> float:
    value = data.get(field, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(field, f"{field} must be a number.") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidInput(field, f"{field} must be a finite number.")
    return number


class TrainingDetail(APIView):
    """A legend training: its progress, then its cross-validated accuracy, the comparison with the global model, the
    held-out assessment and the model's name."""

    @extend_schema(responses={200: TrainingSerializer, 404: OpenApiResponse(description="No such training")})
    def get(self, request, pk: int):
        return Response(training_representation(legends.find_training(request.user, pk), request))


ROUTES = [
    path("legends/", LegendList.as_view(), name="legend-list"),
    path("legends/<int:pk>/", LegendDetail.as_view(), name="legend-detail"),
    path("legends/<int:pk>/samples/", LegendSamples.as_view(), name="legend-samples"),
    path("legends/<int:pk>/trainings/", LegendTrainings.as_view(), name="legend-trainings"),
    path("legend-trainings/<int:pk>/", TrainingDetail.as_view(), name="legend-training-detail"),
]
