"""Competitions (issue 26): benchmarks, their public and private boards, and submissions — a signed-in user POSTs
an ONNX model and its card; it is checked at the door (400 saying why), scored in the sandbox on the submission
queue, and its aggregate scores shown. Nothing here names a benchmark's images or serves its labels: a
benchmark says how many images each split holds, and scores are all a submission gets back."""
from __future__ import annotations

from django.urls import path, reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import parsers, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ml.submissions import MAX_CARD_BYTES

from ..errors import NotFound
from ..jobs import submissions
from ..models import Benchmark, BenchmarkImage, Submission
from . import factory
from .factory import NOT_SIGNED_IN
from .limits import count_file_sent

NO_BENCHMARK = OpenApiResponse(description="No such benchmark")


class BenchmarkSerializer(serializers.Serializer):
    """A benchmark (landcover.api.competitions.benchmark_representation)."""
    slug = serializers.CharField()
    url = serializers.URLField()
    title = serializers.CharField()
    description = serializers.CharField()
    licence = serializers.CharField()
    metric = serializers.CharField()
    legend = serializers.DictField(child=serializers.CharField())
    phase_starts = serializers.DateTimeField()
    phase_ends = serializers.DateTimeField(allow_null=True)
    open = serializers.BooleanField()
    images = serializers.DictField(child=serializers.IntegerField(), help_text="How many images each split holds")
    limits = serializers.DictField(child=serializers.IntegerField())
    left = serializers.DictField(child=serializers.IntegerField(), allow_null=True,
                                 help_text="Your submissions left today and in the phase (signed in)")
    leaderboard = serializers.URLField()
    private_leaderboard = serializers.URLField(allow_null=True, help_text="Once the phase has ended")
    submissions = serializers.URLField()


class SubmissionSerializer(serializers.Serializer):
    """A submission (landcover.api.competitions.submission_representation)."""
    id = serializers.IntegerField()
    url = serializers.URLField()
    benchmark = serializers.CharField()
    name = serializers.CharField()
    participant = serializers.CharField()
    baseline = serializers.BooleanField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    model = serializers.DictField(help_text="Opset, operators, parameters and shapes, as checked")
    card = serializers.DictField()
    sandbox_seconds = serializers.FloatField(allow_null=True)
    public_scores = serializers.DictField(help_text="Metrics, 95 % bootstrap intervals, per-class table, confusion")
    private_scores = serializers.DictField(allow_null=True, help_text="Once the phase has ended")


class BoardRowSerializer(serializers.Serializer):
    """One line of a board."""
    rank = serializers.IntegerField()
    submission = serializers.IntegerField()
    name = serializers.CharField()
    participant = serializers.CharField()
    baseline = serializers.BooleanField()
    entries = serializers.IntegerField()
    finished_at = serializers.DateTimeField()
    metrics = serializers.DictField()
    ci95 = serializers.DictField(allow_null=True)


def benchmark_representation(benchmark: Benchmark, request) -> dict:
    """A benchmark as the API shows it: never an image's name, path or label."""
    url = request.build_absolute_uri(reverse("api:benchmark-detail", args=[benchmark.slug]))
    board = request.build_absolute_uri(reverse("api:benchmark-board", args=[benchmark.slug]))
    counts = {split: benchmark.images.filter(split=split).count() for split in BenchmarkImage.Split.values}
    signed_in = getattr(request.user, "is_authenticated", False)
    return {"slug": benchmark.slug, "url": url, "title": benchmark.title, "description": benchmark.description,
            "licence": benchmark.licence, "metric": benchmark.metric,
            "legend": {str(k): v for k, v in submissions.legend(benchmark).items()},
            "phase_starts": benchmark.phase_starts, "phase_ends": benchmark.phase_ends, "open": benchmark.open(),
            "images": counts, "limits": {"per_day": benchmark.per_day, "per_phase": benchmark.per_phase},
            "left": submissions.submissions_left(benchmark, request.user) if signed_in else None,
            "leaderboard": board,
            "private_leaderboard": f"{board}?board=private" if submissions.private_shown(benchmark, request.user)
            else None,
            "submissions": request.build_absolute_uri(reverse("api:benchmark-submissions", args=[benchmark.slug]))}


def submission_representation(row: Submission, request) -> dict:
    """A submission: its state, and its aggregate scores (the private split's once the phase has ended)."""
    return {"id": row.pk, "url": request.build_absolute_uri(reverse("api:submission-detail", args=[row.pk])),
            "benchmark": row.benchmark.slug, "name": row.name, "participant": row.owner.username,
            "baseline": row.baseline, "status": row.status, "progress": row.progress, "error": row.error,
            "created_at": row.created_at, "finished_at": row.finished_at, "model": row.model_info, "card": row.card,
            "sandbox_seconds": row.sandbox_seconds, "public_scores": row.public_scores,
            "private_scores": row.private_scores if submissions.private_shown(row.benchmark, request.user) else None}


class BenchmarkList(APIView):
    """The benchmarks open or past: what each asks, its metric, phase and limits."""

    @extend_schema(operation_id="v1_benchmarks_list", responses=BenchmarkSerializer(many=True))
    def get(self, request):
        return Response([benchmark_representation(b, request) for b in submissions.visible_benchmarks(request.user)])


class BenchmarkDetail(APIView):
    """One benchmark."""

    @extend_schema(responses={200: BenchmarkSerializer, 404: NO_BENCHMARK})
    def get(self, request, slug: str):
        return Response(benchmark_representation(submissions.find_benchmark(request.user, slug), request))


class BenchmarkBoard(APIView):
    """A benchmark's board: `board=public` (default; scores on the public images, updated as submissions finish)
    or `board=private` (revealed when the phase ends). Each participant's best public submission, ranked by the
    benchmark's metric then by time, with 95 % bootstrap intervals; the platform's baselines each on a line."""

    @extend_schema(parameters=[OpenApiParameter("board", str, enum=["public", "private"])],
                   responses={200: BoardRowSerializer(many=True), 400: OpenApiResponse(description="Unknown board"),
                              403: OpenApiResponse(description="The private board before the phase ends"),
                              404: NO_BENCHMARK})
    def get(self, request, slug: str):
        benchmark = submissions.find_benchmark(request.user, slug)
        return Response(submissions.board(benchmark, request.query_params.get("board", "public"), request.user))


class BenchmarkSubmissions(APIView):
    """GET: your submissions to the benchmark. POST (multipart): `model` (one ONNX file), `card` (JSON: bands in
    order, normalisation, input_size, classes with their codes), `name`, optional `description` — checked at once
    (a 400 says why a model or card is refused), then scored in the sandbox: 202 with the submission's URL."""
    parser_classes = [parsers.MultiPartParser]

    @extend_schema(operation_id="v1_benchmark_submissions_list",
                   responses={200: SubmissionSerializer(many=True), 401: NOT_SIGNED_IN, 404: NO_BENCHMARK})
    def get(self, request, slug: str):
        benchmark = submissions.find_benchmark(request.user, slug)
        user = signed_in(request)
        rows = benchmark.submissions.filter(owner=user).select_related("benchmark", "owner")[:200]
        return Response([submission_representation(r, request) for r in rows])

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
        "model": {"type": "string", "format": "binary"}, "card": {"type": "string", "format": "binary"},
        "name": {"type": "string"}, "description": {"type": "string"}}, "required": ["model", "card", "name"]}},
        responses={202: SubmissionSerializer, 400: OpenApiResponse(description="The model, card or name is refused"),
                   401: NOT_SIGNED_IN, 404: NO_BENCHMARK,
                   409: OpenApiResponse(description="The benchmark is not open"),
                   429: OpenApiResponse(description="The day's or the phase's submissions are used")})
    def post(self, request, slug: str):
        benchmark = submissions.find_benchmark(request.user, slug)
        user = signed_in(request)
        count_file_sent(request, "submission-attempts", "files")
        card = request.FILES.get("card")
        row = submissions.accept(benchmark, user, request.FILES.get("model"),
                                 card.read(MAX_CARD_BYTES + 1) if card else request.data.get("card"),
                                 request.data.get("name", ""), request.data.get("description", ""))
        data = submission_representation(row, request)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


class SubmissionDetail(APIView):
    """A submission: yours in any state, anybody's once scored (it is on the board). DELETE (yours) withdraws it."""

    @extend_schema(responses={200: SubmissionSerializer, 404: OpenApiResponse(description="No such submission")})
    def get(self, request, pk: int):
        return Response(submission_representation(submissions.find_submission(request.user, pk), request))

    @extend_schema(responses={204: None, 401: NOT_SIGNED_IN,
                              404: OpenApiResponse(description="No such submission of yours")})
    def delete(self, request, pk: int):
        user = signed_in(request)
        row = submissions.find_submission(user, pk)
        if row.owner_id != user.pk:
            raise NotFound(f"There is no submission {pk} of yours.")
        submissions.delete(row)
        return Response(status=status.HTTP_204_NO_CONTENT)


def signed_in(request):
    """The requester, who must be signed in (NotSignedIn otherwise)."""
    return factory.signed_in(request, "Sign in to take part: submissions are counted per account.")


ROUTES = [
    path("benchmarks/", BenchmarkList.as_view(), name="benchmark-list"),
    path("benchmarks/<slug:slug>/", BenchmarkDetail.as_view(), name="benchmark-detail"),
    path("benchmarks/<slug:slug>/leaderboard/", BenchmarkBoard.as_view(), name="benchmark-board"),
    path("benchmarks/<slug:slug>/submissions/", BenchmarkSubmissions.as_view(), name="benchmark-submissions"),
    path("submissions/<int:pk>/", SubmissionDetail.as_view(), name="submission-detail"),
]
