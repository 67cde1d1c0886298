"""What the site shows that it should not (issue 11, finding 10): paths on the server in the API and in job
errors, and pages without a Content-Security-Policy."""
from __future__ import annotations

import pytest

from landcover.jobs import lifecycle

pytestmark = pytest.mark.django_db


def test_models_do_not_show_where_their_training_data_lies(client, tiny_unet_model, tiny_unet):
    models = client.get("/api/v1/models/").json()
    data = models[0]["training"]["data"]
    assert "/" not in data and data  # the folder's name only
    assert str(tiny_unet.parent) not in client.get("/api/v1/models/").content.decode()


def test_job_errors_never_carry_a_server_path():
    message = ("OSError: [Errno 28] No space left on device: '/srv/hrmars/data/uploads/abc/upload-3-x/map.tif'; "
               "model /srv/hrmars/models/demo: card unreadable; see https://example.org/help/disk")
    public = lifecycle.public_message(message)
    assert "/srv" not in public and "map.tif" in public and "demo" in public
    assert "https://example.org/help/disk" in public


@pytest.mark.parametrize("url", ["/", "/map/", "/api/v1/models/", "/accounts/login/", "/api/docs/"])
def test_every_answer_carries_a_content_security_policy(client, url):
    policy = client.get(url)["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy


def test_the_api_docs_start_without_an_inline_script(client):
    page = client.get("/api/docs/").content.decode()
    assert "<script>" not in page and "?script" in page  # Swagger UI's start-up script is a file of its own
    assert client.get("/api/docs/?script").status_code == 200
