"""Why an upload, an attachment list or a speech-to-text token is refused, each with its SPEC status and code."""
from rest_framework import exceptions, status


class UploadRefused(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The file cannot be used."
    default_code = "invalid_file"


class TooLarge(UploadRefused):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


class ImageTooLarge(UploadRefused):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "image_too_large"


class UnsupportedMediaType(UploadRefused):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_code = "unsupported_media_type"


class InvalidFile(UploadRefused):
    default_code = "invalid_file"


class EmptyFile(UploadRefused):
    default_detail = "The file is empty."
    default_code = "empty_file"


class InvalidAttachment(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "An attachment is not one of your uploads."
    default_code = "invalid_attachment"


class AttachmentInUse(InvalidAttachment):
    default_detail = "An upload is already attached to another message; upload the file again to reuse it."
    default_code = "attachment_in_use"


class UnsupportedAttachment(InvalidAttachment):
    default_detail = "The model cannot read this attachment."
    default_code = "unsupported_attachment"


class SttNotConfigured(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Speech-to-text is not configured on this server (DEEPGRAM_API_KEY is not set)."
    default_code = "stt_not_configured"


class SttRefused(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "Deepgram refused to issue a token."
    default_code = "stt_refused"
