"""The account endpoints of the API: who am I (/api/v1/me/) and token creation."""
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response
from rest_framework.views import APIView


class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email", "first_name", "last_name", "date_joined", "is_staff"]
        read_only_fields = fields


class MeView(APIView):
    """The authenticated user (token or session)."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class TokenView(ObtainAuthToken):
    """Exchange username and password for the user's API token (created on first use)."""

    def get_serializer_context(self) -> dict:
        # Django's own request, not DRF's wrapper: django-axes marks a locked-out client on the request
        # that passes through its middleware, which then answers 429 (hrmars_site.views.locked_out).
        return {**super().get_serializer_context(), "request": self.request._request}
