"""Background jobs of the copyright registry: thin callers of ``rights.services`` (ids in). Decoding and
fingerprinting a long video takes seconds to minutes, so it never runs inside a web request when a worker is
configured (``manage.py db_worker``); with the immediate backend it runs inline after commit."""

from __future__ import annotations

from django_tasks import task

from rights import services


@task()
def process_work_task(work_id: int) -> str:
    """Fingerprint a submitted work, append it to the chain and issue its certificate; returns its status."""
    return str(services.process_work(work_id=work_id).status)


@task()
def check_suspect_task(suspect_id: int) -> str:
    """Match one suspected copy against the whole registry; returns its status."""
    return str(services.check_suspect(suspect_id=suspect_id).status)
