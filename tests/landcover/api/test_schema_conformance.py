"""Property-based API testing (issue 11): schemathesis generates requests from the live server's own OpenAPI
schema, for an anonymous client and a token-authenticated one, and checks every answer: never a 5xx, a
documented status code, a documented content type, and a body that matches the documented schema. Bounded:
a fixed number of examples per operation, derandomised, no deadline."""
from __future__ import annotations

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.management import call_command
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from landcover.models import ModelVersion
from ml.modelio import read_card

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 4  # per operation and client: about 35 operations × 2 clients × 4 ≈ 280 requests (8 before the legends)


@pytest.fixture
def api_schema(live_server, django_db_blocker, synthetic_tree, tiny_unet):
    with django_db_blocker.unblock():
        call_command("ingest_sen12ms", str(synthetic_tree), "--name", "Synthetic SEN12MS", "--headers-only")
        # The model's row as registration writes it, without loading the network again for each of the ~70
        # operations (registration itself is tested in tests/landcover/catalogue): most of this test's time was that.
        card = read_card(tiny_unet)
        ModelVersion.objects.create(name="tiny-unet", method=card["method"], path=str(tiny_unet), card=card,
                                    metrics=card.get("metrics", {}), is_default=True,
                                    synthetic_training=bool(card.get("training", {}).get("synthetic")))
    return schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def token(django_db_blocker):
    with django_db_blocker.unblock():
        user = get_user_model().objects.create_user("fuzz", "fuzz@example.org", "Fuzz-fuzz-2026!")
        return Token.objects.create(user=user).key


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_anonymous_clients_get_documented_answers(case, live_server):
    case.call_and_validate(base_url=live_server.url, checks=CHECKS)


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_token_clients_get_documented_answers(case, live_server, token):
    case.call_and_validate(base_url=live_server.url, headers={"Authorization": f"Token {token}"}, checks=CHECKS)
