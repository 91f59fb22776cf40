"""Resolve the accounts a template names (by name or id) to gateway accounts, with a cache."""

from __future__ import annotations

import time
from collections.abc import Callable

from app.domain.models import Account
from app.engine.ports import Gateway
from app.errors import TemplateError


class AccountDirectory:
    """The trader's active accounts, read from the gateway at most once per ``ttl_s``."""

    def __init__(
        self, gateway: Gateway, *, ttl_s: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._gateway = gateway
        self._ttl_s = ttl_s
        self._clock = clock
        self._accounts: list[Account] = []
        self._read_at: float | None = None

    async def all(self, *, fresh: bool = False) -> list[Account]:
        """Active accounts (Account/search). Raises GatewayError subclasses."""
        stale = self._read_at is None or self._clock() - self._read_at > self._ttl_s
        if fresh or stale:
            self._accounts = await self._gateway.accounts()
            self._read_at = self._clock()
        return self._accounts

    def note(self, account: Account) -> None:
        """The hub's snapshot of an account (balance, canTrade) replaces the cached one, so an
        account switched off is seen at once, not at the next read."""
        self._accounts = [account if a.account_id == account.account_id else a for a in self._accounts]

    def name_of(self, account_id: int) -> str:
        """The account's name as last read (no request); its id when not read yet."""
        found = next((a for a in self._accounts if a.account_id == account_id), None)
        return found.name if found is not None else str(account_id)

    async def resolve(self, ref: str | int, *, template: str) -> Account:
        """Find the account a template names: an id, or a name (case-insensitive).

        Reads the gateway again once when the account is not in the cache (a new account).
        Raises TemplateError naming the account and listing the ones that exist.
        """
        for fresh in (False, True):
            found = _match(await self.all(fresh=fresh), ref)
            if found is not None:
                return found
        names = ", ".join(f"{a.name} ({a.account_id})" for a in self._accounts) or "none"
        raise TemplateError(
            f"Template '{template}': account '{ref}' is not one of your active accounts "
            f"({names}); fix order.accounts in templates/{template}.toml"
        )


def _match(accounts: list[Account], ref: str | int) -> Account | None:
    text = str(ref).strip()
    for account in accounts:
        if text.isdigit() and account.account_id == int(text):
            return account
        if account.name.casefold() == text.casefold():
            return account
    return None
