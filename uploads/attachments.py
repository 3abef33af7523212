"""Uploads as the provider Attachments one model is sent, as far as its catalog capabilities let it read them."""
import logging

from providers.base import Attachment
from uploads.errors import UnsupportedAttachment
from uploads.models import Upload, UploadKind
from uploads.storage import upload_storage

logger = logging.getLogger("parley.uploads")

IMAGE_NOTE = "[An image ({name}) was attached here; this model cannot see images.]"
MISSING_NOTE = "[The file {name} is no longer available.]"
NO_TEXT_NOTE = "[This PDF has no text that could be extracted.]"


def model_capabilities(*, model: str, user_id: int | None, user_endpoint: bool = False) -> set[str] | None:
    """The model's catalog capabilities; None for a user's own endpoint, which has no catalog (what the user
    attaches is sent as it is). A provider whose list was never fetched is fetched once; a model the catalog
    does not list has none of `vision` and `pdf`."""
    from providers.selectors import catalog_entry, catalog_fetches

    if user_endpoint:
        return None
    entry = catalog_entry(model=model, user_id=user_id)
    provider = model.split("/", 1)[0]
    if entry is None and provider not in catalog_fetches(providers=[provider], user_id=user_id):
        from providers.services import catalog_refresh

        catalog_refresh(user_id=user_id, providers=[provider])
        entry = catalog_entry(model=model, user_id=user_id)
    return {str(c).lower() for c in (entry.capabilities if entry is not None else None) or ()}


class AttachmentReader:
    """Turns uploads into Attachments for one route (model); its capabilities are looked up once, when needed."""

    def __init__(self, *, route, user_id: int | None):
        self.route = route
        self.user_id = user_id
        self._capabilities: set[str] | None = None
        self._looked_up = False

    @property
    def capabilities(self) -> set[str] | None:
        if not self._looked_up:
            self._capabilities = model_capabilities(model=self.route.model, user_id=self.user_id,
                                                    user_endpoint=self.route.user_endpoint)
            self._looked_up = True
        return self._capabilities

    def can_read(self, kind: str) -> bool:
        capabilities = self.capabilities
        needed = {UploadKind.IMAGE: "vision", UploadKind.PDF: "pdf"}.get(kind)
        return capabilities is None or needed is None or needed in capabilities

    def check(self, uploads: list[Upload]) -> None:
        """UnsupportedAttachment (400) if the model cannot see an image among `uploads` (PDFs become text)."""
        for upload in uploads:
            if upload.kind == UploadKind.IMAGE and not self.can_read(UploadKind.IMAGE):
                raise UnsupportedAttachment(
                    f"{self.route.model} cannot read images ({upload.name}): choose a model with vision, or remove "
                    "the image.")

    def read(self, uploads: list[Upload], *, current: bool) -> list[Attachment]:
        """The Attachments of one message; the `current` one is refused images the model cannot see, an earlier
        turn's image becomes a note, so a conversation can go on with a text-only model."""
        if current:
            self.check(uploads)
        return [self._attachment(upload) for upload in uploads]

    def _attachment(self, upload: Upload) -> Attachment:
        if upload.kind == UploadKind.IMAGE and not self.can_read(UploadKind.IMAGE):
            return Attachment(kind="text", media_type="text/plain", name=upload.name,
                              text=IMAGE_NOTE.format(name=upload.name))
        if upload.kind == UploadKind.PDF and not self.can_read(UploadKind.PDF):
            return Attachment(kind="text", media_type=upload.content_type, name=upload.name,
                              text=upload.extracted_text or NO_TEXT_NOTE)
        data = _read(upload)
        if data is None:
            return Attachment(kind="text", media_type="text/plain", name=upload.name,
                              text=MISSING_NOTE.format(name=upload.name))
        if upload.kind == UploadKind.TEXT:
            return Attachment(kind="text", media_type=upload.content_type, name=upload.name,
                              text=data.decode("utf-8-sig", errors="replace"))
        return Attachment(kind=upload.kind, media_type=upload.content_type, name=upload.name, data=data)


def _read(upload: Upload) -> bytes | None:
    try:
        with upload_storage().open(upload.storage_path, "rb") as file:
            return file.read()
    except (FileNotFoundError, OSError):
        logger.warning("The file of upload %s is missing from storage.", upload.pk)
        return None


def attachments_check(*, uploads: list[Upload], model: str, user_id: int | None) -> None:
    """UnsupportedAttachment (400) if `model` cannot see an image among `uploads`; a model that cannot be reached
    is left to the reply to report."""
    from providers.errors import ProviderError
    from providers.gateway import resolve_route

    if not any(upload.kind == UploadKind.IMAGE for upload in uploads):
        return
    try:
        route = resolve_route(model=model, user_id=user_id)
    except ProviderError:
        return
    AttachmentReader(route=route, user_id=user_id).check(uploads)
