"""The competition pages: benchmarks, their boards, a submission's scores, and the form that enters a model. The
form posts to `submit`, which calls the same door as the API (`landcover.jobs.submissions.accept`) and says why a
model or card is refused."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView

from ml.scoring import METRICS
from ml.submissions import MAX_BYTES, MAX_CARD_BYTES

from ..errors import Forbidden, LandcoverError, NotFound
from ..jobs import submissions
from ..models import BenchmarkImage


def with_cells(rows: list[dict] | None) -> list[dict] | None:
    """Board rows with each metric's value and interval in the leaderboard's column order, for the template."""
    for row in rows or []:
        ci = row["ci95"] or {}
        row["cells"] = [(key, row["metrics"].get(key), *(ci.get(key) or (None, None))) for key in METRICS]
    return rows


def benchmark_or_404(user, slug: str):
    try:
        return submissions.find_benchmark(user, slug)
    except NotFound as exc:
        raise Http404(str(exc)) from None


class CompetitionsPage(TemplateView):
    template_name = "landcover/competitions.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(nav="competitions", benchmarks=submissions.visible_benchmarks(self.request.user))
        return context


class CompetitionPage(TemplateView):
    template_name = "landcover/competition.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        benchmark = benchmark_or_404(user, kwargs["slug"])
        try:
            private = submissions.board(benchmark, "private", user)
        except Forbidden:
            private = None
        signed_in = user.is_authenticated
        context.update(
            nav="competitions", benchmark=benchmark, public=with_cells(submissions.board(benchmark, "public", user)),
            private=with_cells(private), legend=submissions.legend(benchmark), metric_keys=list(METRICS),
            images={s: benchmark.images.filter(split=s).count() for s in BenchmarkImage.Split.values},
            mine=benchmark.submissions.filter(owner=user).order_by("-created_at")[:50] if signed_in else [],
            left=submissions.submissions_left(benchmark, user) if signed_in else None,
            max_mb=MAX_BYTES // 2**20, max_card_kb=MAX_CARD_BYTES // 1024,
            api=reverse("api:benchmark-detail", args=[benchmark.slug]))
        return context


class SubmissionPage(TemplateView):
    template_name = "landcover/submission.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            row = submissions.find_submission(self.request.user, kwargs["pk"])
        except NotFound as exc:
            raise Http404(str(exc)) from None
        shown = submissions.private_shown(row.benchmark, self.request.user)
        splits = [("Public images", row.public_scores)] + ([("Private images", row.private_scores)] if shown else [])
        legend = submissions.legend(row.benchmark)
        tables = []
        for title, scores in splits:
            if scores:
                counts = scores["confusion_matrix"]["counts"]
                keep = [k for k, code in enumerate(scores["confusion_matrix"]["classes"])
                        if sum(counts[k]) or sum(r[k] for r in counts)]
                tables.append({"title": title, "scores": scores, "classes": [legend[scores["confusion_matrix"]
                                                                                    ["classes"][k]] for k in keep],
                               "rows": [(legend[scores["confusion_matrix"]["classes"][k]],
                                         [counts[k][j] for j in keep] + [counts[k][-1]]) for k in keep]})
        context.update(nav="competitions", submission=row, tables=tables, private_hidden=not shown,
                       api=reverse("api:submission-detail", args=[row.pk]))
        return context


@login_required
@require_POST
def submit(request, slug: str):
    """Enter a model from the competition page; a refusal comes back as a message saying why."""
    benchmark = benchmark_or_404(request.user, slug)
    card = request.FILES.get("card")
    try:
        row = submissions.accept(benchmark, request.user, request.FILES.get("model"),
                                 card.read(MAX_CARD_BYTES + 1) if card else request.POST.get("card_text"),
                                 request.POST.get("name", ""), request.POST.get("description", ""))
    except LandcoverError as exc:
        messages.error(request, f"Not entered: {getattr(exc, 'message', None) or exc}")
        return redirect("landcover:competition", slug=benchmark.slug)
    messages.success(request, f"Entered “{row.name}”: it is checked and will be scored in the sandbox.")
    return redirect("landcover:submission", pk=row.pk)
