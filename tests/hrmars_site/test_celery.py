"""The Celery app through a real worker process and a real Redis broker."""
import pytest

from hrmars_site.celery import app
from hrmars_site.tasks import ping


@pytest.mark.worker
def test_ping_runs_in_a_real_worker_on_redis(celery_worker):
    assert app.conf.broker_url.startswith("redis://")
    result = ping.delay()
    try:
        value = result.get(timeout=60)
    except Exception:
        pytest.fail("worker did not answer; its log:\n" + celery_worker.log())
    assert value["pong"] is True and value["database"] is True and value["vendor"] == "postgresql"
    assert celery_worker.queue in celery_worker.log()  # it really was that worker


def test_tasks_are_acknowledged_late_and_requeued_if_the_worker_dies():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_always_eager is False  # web requests never run tasks inline
