"""Why a reply could not start or did not finish: each error with its code and HTTP status."""
from core.exceptions import Conflict
from providers.errors import ProviderError


class ConversationBusy(Conflict):
    default_detail = "A reply is still streaming in this conversation; wait for it or cancel it."
    default_code = "conversation_busy"


class NoUserMessage(ProviderError):
    code = "no_user_message"
    status_code = 400

    def default_message(self) -> str:
        return "The conversation has no user message to reply to."


class InternalFailure(ProviderError):
    code = "internal_error"

    def default_message(self) -> str:
        return "The reply failed because of an internal error."


class Interrupted(ProviderError):
    code = "interrupted"
    retryable = True

    def default_message(self) -> str:
        return "The server stopped while the reply was streaming; the text so far is kept."
