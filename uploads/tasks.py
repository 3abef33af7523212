"""Celery tasks of uploads: the periodic retention sweep (beat entry `expire-uploads`)."""
from celery import shared_task


@shared_task(name="uploads.tasks.expire_uploads", ignore_result=True)
def expire_uploads() -> dict[str, int]:
    from uploads.services import uploads_expire

    return uploads_expire()
