"""One error tree (app/errors.py) and one place for HTTP (app/web/webhook.py's HTTP_STATUS)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import app
from app.engine.outcomes import Answer
from app.errors import BridgeError
from app.web.webhook import HTTP_STATUS

# Outside the tree on purpose; app/errors.py's docstring says why for each.
OUTSIDE = {
    "app.failpoints.FailpointCrash",
    "app.strategies.expressions.MissingField",
    "app.strategies.sandbox.NeedsThread",
    "app.sim.body.BadRequest",
    "app.sim.models.Rejected",
    "app.sim.store.StateFileError",
}


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(app.__path__, "app."):
        if info.name.endswith(".__main__"):
            continue  # `python -m` entry points run the command when imported
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == info.name:
                found[f"{info.name}.{name}"] = value
    return found


def test_every_exception_class_in_app_roots_in_bridge_error_or_is_named_in_the_docstring() -> None:
    classes = _exception_classes()
    outside = {
        name
        for name, cls in classes.items()
        if not issubclass(cls, BridgeError) and not name.rsplit(".", 1)[1].startswith("_")
    }
    assert outside == OUTSIDE
    import app.errors

    for name in OUTSIDE | {n for n in classes if n.startswith("app.errors.")}:
        assert name.rsplit(".", 1)[1] in (app.errors.__doc__ or "")


def test_every_answer_has_one_http_status_and_only_nothing_done_is_a_5xx() -> None:
    assert set(HTTP_STATUS) == set(Answer)
    assert [a for a, code in HTTP_STATUS.items() if code >= 500] == [Answer.NOTHING_DONE]
    assert HTTP_STATUS[Answer.DONE] == 200 and HTTP_STATUS[Answer.WORKING] == 202
