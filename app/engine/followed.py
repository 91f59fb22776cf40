"""The followed accounts: those the loaded templates trade on, as the gateway knows them.

The hub's catch-up and polling (follow.py), the risk monitor, flatten and the wind-down at stop
all act on these accounts. When the gateway cannot list the accounts, those followed before are
still followed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from app.domain.models import Account
from app.engine.accounts import AccountDirectory
from app.engine.runner import JournalRunner
from app.errors import GatewayError, TemplateError
from app.strategies import StrategyTemplate

log = logging.getLogger(__name__)


class FollowedAccounts:
    """Resolve the templates' accounts to gateway accounts; remember the last answer."""

    def __init__(
        self,
        templates: Callable[[], Mapping[str, StrategyTemplate]],
        accounts: AccountDirectory,
        runner: JournalRunner,
    ) -> None:
        self._templates = templates  # the templates loaded now (they change on a reload)
        self._accounts = accounts
        self._runner = runner
        self._followed: set[int] = set()  # as last resolved, for when the gateway cannot say

    @property
    def known(self) -> frozenset[int]:
        """The followed account ids as last resolved (asks nothing of the gateway)."""
        return frozenset(self._followed)

    async def ids(self) -> list[int]:
        """The ids of the accounts the templates trade on (those that exist on the gateway).

        When the gateway cannot list the accounts, those followed before are still followed.
        """
        found: set[int] = set()
        unanswered = False
        for template in self._templates().values():
            for spec in template.accounts:
                try:
                    found.add((await self._accounts.resolve(spec.account, template=template.name)).account_id)
                except TemplateError as exc:
                    log.warning("not following an account: %s", exc)
                except GatewayError as exc:
                    log.warning("could not look up an account, still following those known: %s", exc)
                    unanswered = True
        if unanswered:
            found |= self._followed
        self._followed = found
        return sorted(found)

    async def accounts(self) -> list[Account]:
        """The followed accounts, resolved (the directory's cache: no request most of the time).
        Raises GatewayError subclasses."""
        ids = set(await self.ids())
        return [a for a in await self._accounts.all() if a.account_id in ids]

    async def record_balances(self) -> None:
        """Journal the followed accounts' balances as the gateway has them at start, so that the
        trailing drawdown's high-water mark starts from the balance before the first fill.
        A gateway error is logged; raises JournalError."""
        try:
            accounts = await self.accounts()
        except GatewayError as exc:
            log.warning("could not read the accounts' balances at start: %s", exc)
            return
        for account in accounts:
            await self._runner.run(self._runner.journal.set_account, account)
