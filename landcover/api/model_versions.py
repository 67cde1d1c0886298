"""Registered models with their method, bands, training data and test metrics; default first. The site's models
(and shared legend models) are everybody's and answered from the cache; a signed-in user's list adds their own legend
models (issue 27), built for them, never cached."""
from __future__ import annotations

from rest_framework import generics
from rest_framework.response import Response

from ..catalogue.registry import visible_models
from .caching import cached
from .serializers import ModelVersionSerializer


class ModelList(generics.ListAPIView):
    """Registered model versions with their method, bands, training data and test metrics; default first."""
    serializer_class = ModelVersionSerializer
    pagination_class = None

    def get_queryset(self):
        return visible_models(self.request.user)

    def get(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            return Response(self.list(request).data)
        return cached(request, lambda: self.list(request).data)


class ModelDetail(generics.RetrieveAPIView):
    serializer_class = ModelVersionSerializer
    lookup_field = "name"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return visible_models(self.request.user)
