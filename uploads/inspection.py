"""What an uploaded file is, decided from its bytes: an image Pillow can open, a PDF pypdf can read, or text."""
import io
import json
import warnings
from dataclasses import dataclass, field

import filetype
from django.conf import settings

from uploads.errors import EmptyFile, ImageTooLarge, InvalidFile, TooLarge, UnsupportedMediaType

# Pillow's format name → the type a provider accepts.
IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
SNIFFED_IMAGES = {"image/png", "image/apng", "image/jpeg", "image/webp", "image/gif"}
CLAIMED_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif")
# Extracted PDF text beyond this is cut: it goes into a prompt, and a model's context ends long before.
MAX_EXTRACTED_CHARS = 1_000_000


@dataclass(slots=True)
class Inspected:
    kind: str            # "image" | "pdf" | "text"
    content_type: str
    metadata: dict = field(default_factory=dict)
    text: str = ""       # a PDF's extracted text (text files are read from storage when needed)


def max_bytes() -> int:
    return settings.PARLEY_UPLOAD_MAX_BYTES


def inspect_upload(data: bytes, *, name: str = "", declared_type: str = "") -> Inspected:
    """Raise the SPEC's refusal for anything Parley cannot send to a model; `name` and `declared_type` only
    sharpen the message when a file claims to be an image or PDF that its bytes are not."""
    if not data:
        raise EmptyFile()
    if len(data) > max_bytes():
        raise TooLarge(f"The file is larger than {max_bytes() // (1024 * 1024)} MB.")
    sniffed = filetype.guess_mime(data) or ""
    if sniffed in SNIFFED_IMAGES:
        return _image(data)
    if sniffed == "application/pdf":
        return _pdf(data)
    if sniffed:
        raise UnsupportedMediaType(f"Files of type {sniffed} cannot be attached; attach an image (PNG, JPEG, "
                                   "WebP, GIF), a PDF or a text file.")
    text = _text(data)
    claimed_image = name.lower().endswith(CLAIMED_IMAGE_EXTENSIONS) or declared_type.startswith("image/")
    claimed_pdf = name.lower().endswith(".pdf") or declared_type == "application/pdf"
    if claimed_image or claimed_pdf:
        raise InvalidFile(f"The file is not a valid {'image' if claimed_image else 'PDF'}: its bytes are "
                          f"{'text' if text is not None else 'not a known format'}.")
    if text is None:
        raise UnsupportedMediaType("This kind of file cannot be attached; attach an image (PNG, JPEG, WebP, GIF), "
                                   "a PDF or a text file.")
    return Inspected(kind="text", content_type=_text_type(text), metadata={"chars": len(text)})


def _image(data: bytes) -> Inspected:
    from PIL import Image, UnidentifiedImageError

    limit = settings.PARLEY_UPLOAD_MAX_PIXELS
    too_large = ImageTooLarge(f"The image has more than {limit:,} pixels.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:  # reads the header only
                width, height = image.size
                if width * height > limit:
                    raise too_large
                image_format = image.format
                image.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()  # verify() misses truncated pixel data; decoding finds it
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_large from None
    except ImageTooLarge:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidFile(f"The image is corrupt or truncated ({type(exc).__name__}).") from None
    content_type = IMAGE_FORMATS.get(image_format or "")
    if content_type is None:
        raise UnsupportedMediaType(f"{image_format} images cannot be attached; use PNG, JPEG, WebP or GIF.")
    return Inspected(kind="image", content_type=content_type, metadata={"width": width, "height": height})


def _pdf(data: bytes) -> Inspected:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidFile("The PDF is password-protected.")
        pages = len(reader.pages)
        texts, total = [], 0
        for page in reader.pages:
            if total >= MAX_EXTRACTED_CHARS:
                break
            piece = page.extract_text() or ""
            texts.append(piece)
            total += len(piece)
    except InvalidFile:
        raise
    except Exception as exc:  # pypdf raises many types for broken files; every one means "cannot read it"
        raise InvalidFile(f"The PDF is corrupt or unreadable ({type(exc).__name__}).") from None
    if pages == 0:
        raise InvalidFile("The PDF has no pages.")
    text = "\n\n".join(t.strip() for t in texts if t.strip())[:MAX_EXTRACTED_CHARS]
    return Inspected(kind="pdf", content_type="application/pdf", metadata={"pages": pages}, text=text)


def _text(data: bytes) -> str | None:
    """The file as text if it is UTF-8 without NUL or other binary control characters, else None."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if any(ord(ch) < 32 and ch not in "\t\n\r\f\v" for ch in text[:65536]) or "\x00" in text:
        return None
    return text


def _text_type(text: str) -> str:
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            json.loads(text)
        except ValueError:
            pass
        else:
            return "application/json"
    return "text/plain"
