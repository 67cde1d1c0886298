"""Per-client limits on new work: a computation that is not stored yet counts, reading a stored one never does."""
from __future__ import annotations

from django.conf import settings
from django_ratelimit.core import is_ratelimited

from ..errors import LimitReached


def count_new_computation(request) -> None:
    """One more computation started by this client (user, or address when anonymous); LimitReached past
    HRMARS_MAP_RATE. Results already computed are read without limit."""
    if is_ratelimited(request, group="map-computations", key="user_or_ip", rate=settings.MAP_RATE, increment=True):
        raise LimitReached(f"You have started the most new map computations allowed ({settings.MAP_RATE}); wait "
                           "before asking for more. Maps that are already computed can be viewed at any time.")


def count_new_export(request) -> None:
    """One more export variant (vectors, a sample) made for this client; LimitReached past HRMARS_EXPORT_RATE.
    Variants already made are read without limit."""
    if is_ratelimited(request, group="exports", key="user_or_ip", rate=settings.EXPORT_RATE, increment=True):
        raise LimitReached(f"You have asked for the most new exports allowed ({settings.EXPORT_RATE}); wait before "
                           "asking for more. Exports already made can be downloaded at any time.")


def count_area_file(request) -> None:
    """One more area file read for this client, refused ones included (parsing a file of many features costs the
    web process seconds); LimitReached past HRMARS_AREA_FILE_RATE."""
    if is_ratelimited(request, group="area-files", key="user_or_ip", rate=settings.AREA_FILE_RATE, increment=True):
        raise LimitReached(f"You have sent the most area files allowed in a while ({settings.AREA_FILE_RATE}, refused "
                           "ones included); wait before sending another.")


def count_file_sent(request, group: str, noun: str) -> None:
    """One more file (an upload, a competition entry) sent by this user to the door `group`, refused ones included
    (checking a file costs the web process seconds); LimitReached past HRMARS_UPLOAD_RATE."""
    if is_ratelimited(request, group=group, key="user", rate=settings.UPLOAD_RATE, increment=True):
        raise LimitReached(f"You have sent the most {noun} allowed in a while ({settings.UPLOAD_RATE}, refused ones "
                           "included); wait before sending another.")
