"""``tvbridge check``: does the gateway list every account the templates trade on?

A template naming an account that does not exist passed ``check`` and ``serve`` only warned
(issue 14). ``check`` now logs in read-only (Auth/loginKey, then Account/search: §2.1, §4.1;
never an order) and names each template account the gateway does not list. The built-in
simulator counts as a gateway: a fresh one, in this process, with the simulator's accounts.
When no gateway answers, ``check`` says the accounts were not checked rather than passing them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.config import Settings
from app.engine.accounts import AccountDirectory
from app.errors import GatewayAuthError, GatewayError, TemplateError
from app.gateway.projectx import build_gateway
from app.strategies import StrategyTemplate
from app.web.sim_link import sim_transport


@dataclass
class AccountsChecked:
    """What the gateway said: ``problems`` (a template account it does not list, a refused login)
    fail the check; ``skipped`` says why the accounts were not checked (no gateway answered)."""

    problems: list[str] = field(default_factory=list)
    skipped: str | None = None


async def check_template_accounts(
    settings: Settings, templates: dict[str, StrategyTemplate]
) -> AccountsChecked:
    """Log in read-only and match every template's accounts (by name or id) to the gateway's
    active accounts. Sends no order. Never raises a GatewayError: an unreachable gateway is
    ``skipped``, a refused login a problem."""
    result = AccountsChecked()
    if not templates:
        return result
    transport, base_url = sim_transport() if settings.gateway.kind == "sim" else (None, None)
    gateway = build_gateway(settings.gateway, base_url=base_url, transport=transport)
    try:
        await gateway.start()
        directory = AccountDirectory(gateway)
        await directory.all()
        for template in templates.values():
            for spec in template.accounts:
                try:
                    await directory.resolve(spec.account, template=template.name)
                except TemplateError as exc:
                    result.problems.append(f"{_where(template, spec.account)}: {exc}")
    except GatewayAuthError as exc:
        result.problems.append(f"gateway {settings.gateway.firm_name}: login refused: {exc}")
    except GatewayError as exc:
        result.skipped = (
            f"the templates' accounts were not checked: gateway {settings.gateway.firm_name} did not "
            f"answer ({exc})"
        )
    finally:
        await gateway.close()
    return result


def _where(template: StrategyTemplate, account: str | int) -> str:
    """``templates/x.toml:LINE`` of the line naming ``account`` (the file alone when not found)."""
    name = re.escape(str(account))
    for number, line in enumerate(template.source.splitlines(), start=1):
        if re.search(rf"""["']{name}["']|\b{name}\b""", line):
            return f"{template.path}:{number}"
    return str(template.path)
