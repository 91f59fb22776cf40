"""``tvbridge check``'s view of ``[notify]``: every problem at once, as lines."""

from __future__ import annotations

from app.config import NotifySettings
from app.errors import ConfigError
from app.notify.routing import check_kinds
from app.notify.targets import load_target, remember


def notify_problems(settings: NotifySettings) -> list[str]:
    """What is wrong with ``[notify]``: unknown kind names, URLs Apprise cannot use (shown by
    position and scheme only: a URL holds its tokens). Empty when all is well."""
    problems: list[str] = []
    try:
        check_kinds(settings)
    except ConfigError as exc:
        problems.append(str(exc))
    places = [("[notify] urls", settings.urls)]
    places += [(f"[[notify.routes]] #{n} urls", route.urls) for n, route in enumerate(settings.routes, 1)]
    remember(settings.all_urls())
    for where, urls in places:
        for n, url in enumerate(urls, 1):
            try:
                load_target(url.get_secret_value(), where=f"{where} #{n}")
            except ConfigError as exc:
                problems.append(str(exc))
    return problems
