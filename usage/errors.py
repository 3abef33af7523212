"""The refusal every start path answers once a user's month has used up their budget."""
from decimal import Decimal

from providers.errors import ProviderError


def usd(amount: Decimal) -> str:
    return f"${amount.quantize(Decimal('0.01')) if amount >= Decimal('0.01') or amount == 0 else amount.normalize()}"


def _plain(amount: Decimal) -> str:
    return format(amount.normalize(), "f")


class BudgetExceeded(ProviderError):
    """A ProviderError, so every path that already answers a refused start (REST, SSE, WebSocket, compare, merge,
    gateway) answers this one too, with its 402 status."""

    code = "budget_exceeded"
    status_code = 402

    def __init__(self, *, spent: Decimal, limit: Decimal):
        self.spent, self.limit = spent, limit
        super().__init__(f"Your monthly budget is used up: {usd(spent)} spent of {usd(limit)} this month "
                         f"(spent {_plain(spent)}, limit {_plain(limit)} USD). It resets at the start of next month.")

    def as_event(self) -> dict:
        return {**super().as_event(), "spent": float(self.spent), "limit": float(self.limit)}
