"""Reads of uploads: the caller's own, and the ones a new message may attach."""
import uuid

from django.http import Http404
from django.utils import timezone

from uploads.errors import AttachmentInUse, InvalidAttachment
from uploads.models import Upload


def upload_list(*, user):
    return Upload.objects.filter(owner=user).order_by("-created_at", "-id")


def upload_get(*, user, upload_id) -> Upload:
    """The caller's upload; 404 for another user's, an unknown or a malformed id."""
    try:
        pk = uuid.UUID(str(upload_id))
    except (TypeError, ValueError, AttributeError):
        raise Http404("No such upload.") from None
    upload = upload_list(user=user).filter(pk=pk).first()
    if upload is None:
        raise Http404("No such upload.")
    return upload


def uploads_by_id(upload_ids) -> dict:
    """{upload id (str): Upload} for the attached uploads given (e.g. those a history's messages name)."""
    return {str(u.pk): u for u in Upload.objects.filter(pk__in=list(upload_ids), message__isnull=False)}


def attachments_for_message(*, owner, upload_ids: list) -> list[Upload]:
    """The caller's own unattached, unexpired uploads, in the order given; InvalidAttachment (400) for an
    unknown, foreign or expired id and AttachmentInUse for one already attached to a message."""
    if not upload_ids:
        return []
    if len(set(upload_ids)) != len(upload_ids):
        raise InvalidAttachment("The same upload is listed twice.")
    found = {u.pk: u for u in Upload.objects.filter(pk__in=upload_ids, owner=owner)}
    uploads = []
    for upload_id in upload_ids:
        upload = found.get(upload_id)
        if upload is None or (upload.attached_at is None and upload.expires_at and upload.expires_at <= timezone.now()):
            raise InvalidAttachment(f"No upload {upload_id} of yours can be attached.")
        if upload.attached_at is not None:
            raise AttachmentInUse(f"The upload {upload.name!r} is already attached to another message; upload the "
                                  "file again to send it once more.")
        uploads.append(upload)
    return uploads
