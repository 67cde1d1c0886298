"""Registered models with their method, bands, training data and test metrics; default first."""
from __future__ import annotations

from rest_framework import generics

from ..models import ModelVersion
from .caching import cached
from .serializers import ModelVersionSerializer


class ModelList(generics.ListAPIView):
    """Registered model versions with their method, bands, training data and test metrics; default first."""
    serializer_class = ModelVersionSerializer
    queryset = ModelVersion.objects.all()
    pagination_class = None

    def get(self, request, *args, **kwargs):
        return cached(request, lambda: self.list(request).data)


class ModelDetail(generics.RetrieveAPIView):
    serializer_class = ModelVersionSerializer
    queryset = ModelVersion.objects.all()
    lookup_field = "name"
    lookup_value_regex = "[^/]+"
