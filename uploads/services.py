"""Writes of uploads: store a checked file, attach uploads to a message, delete them with their files."""
import hashlib
import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from uploads.errors import AttachmentInUse
from uploads.inspection import inspect_upload
from uploads.models import Upload
from uploads.storage import upload_storage

logger = logging.getLogger("parley.uploads")

MAX_NAME = Upload._meta.get_field("name").max_length


def clean_name(name: str) -> str:
    """A display name: no directories, no control characters, at most 255 characters (the extension kept)."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    if name in ("", ".", ".."):
        name = "file"
    if len(name) > MAX_NAME:
        stem, dot, extension = name.rpartition(".")
        extension = extension[:16] if dot and stem else ""
        name = name[: MAX_NAME - len(extension) - 1].rstrip() + "." + extension if extension else name[:MAX_NAME]
    return name


def upload_create(*, owner, name: str, data: bytes, declared_type: str = "") -> Upload:
    """Check the bytes (raising the SPEC refusal), store them under a name Parley makes, then the row.

    Nothing is stored for a refused file; a file whose row could not be written is removed again.
    """
    name = clean_name(name)
    inspected = inspect_upload(data, name=name, declared_type=declared_type)
    upload_id = uuid.uuid4()
    storage = upload_storage()
    path = storage.save(f"{timezone.now():%Y/%m}/{upload_id.hex}", ContentFile(data))
    now = timezone.now()
    try:
        with transaction.atomic():
            upload = Upload.objects.create(
                id=upload_id, owner=owner, name=name, content_type=inspected.content_type, kind=inspected.kind,
                size=len(data), sha256=hashlib.sha256(data).hexdigest(), storage_path=path,
                metadata=inspected.metadata, extracted_text=inspected.text,
                expires_at=now + timedelta(hours=settings.PARLEY_UPLOAD_UNATTACHED_HOURS),
            )
    except BaseException:
        storage.delete(path)
        raise
    _sweep_without_beat()
    return upload


def _sweep_without_beat() -> None:
    """Without a broker there is no beat: new uploads run the retention sweep now and then, in-process."""
    from django.core.cache import cache

    from core.dispatch import dispatch_task
    from uploads.tasks import expire_uploads

    if not settings.CELERY_BROKER_URL and cache.add("uploads:sweep-ran", True, settings.PARLEY_UPLOAD_SWEEP_SECONDS):
        dispatch_task(expire_uploads)


def upload_delete(*, upload: Upload) -> None:
    """The row now (and its entry in its message's attachments); the file once the deletion is committed."""
    from chats.models import Message

    path = upload.storage_path
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(pk=upload.message_id).first()
        if message is not None:
            message.attachments = [a for a in message.attachments if a.get("id") != str(upload.pk)]
            message.save(update_fields=["attachments"])
        upload.delete()
        transaction.on_commit(lambda: _delete_files([path]))


def uploads_attach(*, message, uploads: list[Upload]) -> None:
    """Link `uploads` to `message` in the caller's transaction; AttachmentInUse (400) if one was taken meanwhile."""
    if not uploads:
        return
    now = timezone.now()
    linked = Upload.objects.filter(pk__in=[u.pk for u in uploads], message__isnull=True, attached_at__isnull=True,
                                   owner_id=message.conversation.owner_id).update(
        message=message, attached_at=now, expires_at=None)
    if linked != len(uploads):
        raise AttachmentInUse()


def uploads_detach(*, message) -> None:
    """Make `message`'s uploads unattached again (its storing is being undone), with a fresh expiry."""
    expires = timezone.now() + timedelta(hours=settings.PARLEY_UPLOAD_UNATTACHED_HOURS)
    Upload.objects.filter(message=message).update(message=None, attached_at=None, expires_at=expires)


def attachment_summary(upload: Upload) -> dict:
    return {"id": str(upload.pk), "name": upload.name, "content_type": upload.content_type, "kind": upload.kind,
            "size": upload.size, "sha256": upload.sha256, "url": f"/api/v1/uploads/{upload.pk}/content/"}


def uploads_delete_for_messages(messages) -> None:
    """Delete the uploads of `messages` (a queryset about to be deleted) and, after commit, their files."""
    uploads = Upload.objects.filter(message__in=messages)
    paths = list(uploads.values_list("storage_path", flat=True))
    if not paths:
        return
    uploads.delete()
    transaction.on_commit(lambda: _delete_files(paths))


def uploads_expire(*, now=None) -> dict[str, int]:
    """The retention sweep: unattached uploads past their expiry, uploads whose message is gone, and files in
    storage that no upload names (left by a crash between storing and the row, or by a deleted account)."""
    now = now or timezone.now()
    expired = Upload.objects.filter(attached_at__isnull=True, expires_at__lt=now)
    orphaned = Upload.objects.filter(attached_at__isnull=False, message__isnull=True)
    counts = {}
    for label, queryset in (("expired", expired), ("orphaned", orphaned)):
        paths = list(queryset.values_list("storage_path", flat=True))
        queryset.filter(storage_path__in=paths).delete()
        _delete_files(paths)
        counts[label] = len(paths)
    counts["stray_files"] = _delete_stray_files(older_than=now - timedelta(hours=1))
    return counts


def _delete_stray_files(*, older_than) -> int:
    storage = upload_storage()
    known = set(Upload.objects.values_list("storage_path", flat=True))
    stray = []
    for path in _walk(storage, ""):
        if path in known:
            continue
        try:
            modified = storage.get_modified_time(path)
        except (NotImplementedError, OSError):
            # Django's Storage API leaves get_modified_time optional (NotImplementedError), and a file may vanish
            # between listing and reading: either way its age is unknown, and a stray without a row goes.
            modified = None
        if modified is None or modified < older_than:  # a file being stored right now has no row yet
            stray.append(path)
    _delete_files(stray)
    return len(stray)


def _walk(storage, folder: str):
    try:
        folders, files = storage.listdir(folder)
    except (FileNotFoundError, NotImplementedError):
        # A folder not made yet has nothing to sweep; a storage without listdir (optional in Django's Storage API)
        # cannot be swept for strays, only through the rows.
        return
    for name in files:
        yield f"{folder}/{name}" if folder else name
    for name in folders:
        yield from _walk(storage, f"{folder}/{name}" if folder else name)


def _delete_files(paths) -> None:
    storage = upload_storage()
    for path in paths:
        try:
            storage.delete(path)
        except OSError:
            logger.warning("Could not delete the uploaded file %s; the retention task retries.", path)
