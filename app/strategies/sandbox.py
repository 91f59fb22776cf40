"""The bounded Jinja2 sandbox template expressions run in: no expression can stall the bridge.

Jinja2's SandboxedEnvironment stops escapes, not work: ``lipsum(n=100000)`` took 12 s,
nested ``range`` loops 4 s, and ``'a' * 3*10**8`` was computed (1.4 GB) when the template was
merely compiled, by the optimizer folding constants. Here every way to make work is bounded:

- no constant folding at compile time (``optimized=False``): saving a template computes nothing;
- operators ``*`` ``**`` ``+`` ``%`` and ``~`` are checked *before* they run: no string or list
  longer than MAX_ITEMS, no integer over MAX_INT_BITS bits, no ``%`` format with a huge width;
- ``range`` at most MAX_RANGE items, ``lipsum`` at most 5 paragraphs of 100 words;
- string methods and filters that take a width or a count (``center``, ``ljust``, ``replace``,
  ``join``, ``format``, ``wordwrap``, ``indent``, ``batch``…) are checked before they run, and
  every call's and filter's result is at most MAX_ITEMS long;
- a render stops after MAX_OUTPUT characters of output, after MAX_STEPS lines of template code
  (loop iterations included), and at its deadline: the template's own code counts and checks
  the clock on every line it runs, through a trace function installed only for the render
  (``sys.settrace``; template frames only, so the rest of the bridge runs untraced). Work done
  in C by one call is bounded by the checks above. A template's check counts steps only
  (CHECK_STEPS), so that a busy machine cannot fail a good template.

An alert's render is tried first on the caller's thread (the event loop) under a small share of
these bounds (``first_try``: FIRST_TRY_S, FIRST_TRY_STEPS); a template that needs more raises
NeedsThread and is rendered again, whole, on a worker thread (app/engine/execute.py). Almost
every template renders in well under a millisecond, and a hop to a worker thread and back costs
the webhook's round trip a millisecond at the median and more at the tail on a busy machine.

A bound that is broken raises RenderBoundError with what and by how much.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

from app.errors import TemplateError

MAX_ITEMS = 100_000  # characters of a string, items of a list, made by one operation
MAX_RANGE = 10_000  # items of one range()
MAX_INT_BITS = 1_024  # bits of an integer made by * or ** (about 308 digits)
MAX_OUTPUT = 10_000  # characters one expression may render
MAX_STEPS = 200_000  # lines of template code one expression may run (loop iterations included)
CHECK_STEPS = 20_000  # the same when a template is checked on an empty alert (counted, not timed,
# so a busy machine cannot make a good template fail its check)
# Budgets are CPU seconds of the rendering thread (time.thread_time()), not wall time: a busy
# laptop (another program, a burst of alerts, the GIL held elsewhere) must never make a good
# template's render run out of time; only the template's own work counts.
RENDER_BUDGET_S = 0.25  # CPU seconds of rendering for one alert (all its values together)
CHECK_BUDGET_S = 2.0  # CPU seconds for one expression's check (the steps bound comes first)
FIRST_TRY_S = 0.005  # CPU seconds an alert's render may hold the event loop before it moves off it
FIRST_TRY_STEPS = 2_000  # lines of template code per expression, the same
# Linear: each alternative starts at a % or {, and stops at the next one (or a letter/brace).
_WIDE_FORMAT = re.compile(r"%(?:\([^)%]*\))?[^a-zA-Z%]*?(?:\*|\d{5})|\{[^{}]*\{|\{[^{}:]*:[^{}]*?\d{5}")
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_WIDTH_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice"})
_TEMPLATE_FILE = "<template>"


class RenderBoundError(TemplateError):
    """An expression broke one of the sandbox's bounds (size, range, output or time): a template error."""


class NeedsThread(BaseException):  # noqa: N818  a signal, not an error
    """A render under ``first_try`` needs more than its share: run it again on a worker thread.

    A BaseException, so that no ``except Exception`` on the way (Jinja2's, the template's value
    conversion) turns it into a template error."""


_first_try = threading.local()  # .until: thread_time() deadline of the current first try


@contextmanager
def first_try() -> Iterator[None]:
    """Render on this thread within FIRST_TRY_S CPU seconds (for everything rendered inside the
    block) and FIRST_TRY_STEPS lines per expression; past either, NeedsThread is raised (the
    render is pure: the caller runs it again elsewhere with the whole budget)."""
    before = getattr(_first_try, "until", None)
    _first_try.until = time.thread_time() + FIRST_TRY_S
    try:
        yield
    finally:
        _first_try.until = before


def check_size(value: Any, what: str) -> Any:
    """Return ``value``; raise RenderBoundError when it is a string or collection over MAX_ITEMS."""
    if isinstance(value, str | bytes | list | tuple | dict | set) and len(value) > MAX_ITEMS:
        raise RenderBoundError(f"{what} makes {len(value)} items (at most {MAX_ITEMS})")
    return value


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


def _check_int(value: Any, what: str) -> None:
    if isinstance(value, int) and abs(value) > MAX_ITEMS:
        raise RenderBoundError(f"{what} is {value} (at most {MAX_ITEMS})")


def _check_format(text: Any, what: str) -> None:
    if isinstance(text, str) and _WIDE_FORMAT.search(text):
        raise RenderBoundError(f"{what}: a format with a width of 10,000 or more, or a computed one")


def _bounded_range(*args: int) -> range:
    made = range(*args)
    if len(made) > MAX_RANGE:
        raise RenderBoundError(f"range() of {len(made)} items (at most {MAX_RANGE})")
    return made


def _bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if n > 5 or max > 100 or min > max:
        raise RenderBoundError("lipsum() of more than 5 paragraphs or 100 words")
    return generate_lorem_ipsum(n=n, html=html, min=min, max=max)


def _checked_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with its arguments checked before it runs and its result after."""

    def run(*args: Any, **kwargs: Any) -> Any:
        # Context/environment filters get those first; the value is the first argument after.
        values = [a for a in args if not isinstance(a, Context | EvalContext | SandboxedEnvironment)]
        if name in _WIDTH_FILTERS:
            for arg in (*values[1:], *kwargs.values()):
                _check_int(arg, f"filter {name}'s argument")
        if name == "format" and values:
            _check_format(values[0], "filter format")
        if name == "replace" and len(values) >= 3:
            _check_replace(values[0], values[1], values[2], f"filter {name}")
        if name == "join" and values:
            items = list(values[0]) if not isinstance(values[0], str) else values[0]
            check_size(items, "filter join's input")
            sep = values[1] if len(values) > 1 else kwargs.get("d", "")
            _check_joined(sep, items, "filter join")
            args = tuple(items if a is values[0] else a for a in args)
        return check_size(func(*args, **kwargs), f"filter {name}")

    run.__name__ = getattr(func, "__name__", name)
    for marker in ("jinja_pass_arg",):
        if hasattr(func, marker):
            setattr(run, marker, getattr(func, marker))
    return run


def _check_replace(text: Any, old: Any, new: Any, what: str) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
        made = len(text) + (text.count(old) if old else len(text) + 1) * (len(new) - len(old))
        if made > MAX_ITEMS:
            raise RenderBoundError(f"{what} makes {made} characters (at most {MAX_ITEMS})")


def _check_joined(sep: Any, items: Iterable[Any], what: str) -> None:
    listed = items if isinstance(items, list | tuple | str) else list(items)
    made = len(str(sep)) * max(0, len(listed) - 1) + sum(len(str(i)) for i in listed)
    if made > MAX_ITEMS:
        raise RenderBoundError(f"{what} makes {made} characters (at most {MAX_ITEMS})")


class _Generator(CodeGenerator):
    """Compiles ``~`` to a checked join (Jinja2 writes a bare ``str_join``)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.tvb_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedEnvironment(SandboxedEnvironment):
    """A SandboxedEnvironment whose operators, calls, filters and globals are bounded."""

    code_generator_class = _Generator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(optimized=False, **options)
        self.globals["range"] = _bounded_range
        self.globals["lipsum"] = _bounded_lipsum
        self.filters = {name: _checked_filter(name, f) for name, f in self.filters.items()}

    def tvb_concat(self, parts: tuple[Any, ...]) -> str:
        """``a ~ b ~ …``: each part as text, the whole at most MAX_ITEMS characters."""
        texts = [str(part) for part in parts]
        total = sum(len(text) for text in texts)
        if total > MAX_ITEMS:
            raise RenderBoundError(f"'~' makes {total} characters (at most {MAX_ITEMS})")
        return "".join(texts)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                size = _sized(seq)
                if size is not None and isinstance(times, int) and size * times > MAX_ITEMS:
                    raise RenderBoundError(f"'*' makes {size * times} items (at most {MAX_ITEMS})")
            both_int = isinstance(left, int) and isinstance(right, int)
            if both_int and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise RenderBoundError(f"'*' makes an integer over {MAX_INT_BITS} bits")
        elif operator == "**":
            both_int = isinstance(left, int) and isinstance(right, int)
            if both_int and abs(left) > 1 and right > 0 and left.bit_length() * right > MAX_INT_BITS:
                raise RenderBoundError(f"'**' makes an integer over {MAX_INT_BITS} bits")
        elif operator == "+":
            sizes = (_sized(left), _sized(right))
            if sizes[0] is not None and sizes[1] is not None and sizes[0] + sizes[1] > MAX_ITEMS:
                raise RenderBoundError(f"'+' makes {sizes[0] + sizes[1]} items (at most {MAX_ITEMS})")
        elif operator == "%":
            _check_format(left, "'%'")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        # The sandbox hands out str.format wrapped (its __wrapped__ is the bound method).
        target = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(target, "__self__", None)
        name = getattr(target, "__name__", "")
        if isinstance(owner, str):
            if name in _WIDTH_METHODS:
                for arg in (*args, *kwargs.values()):
                    _check_int(arg, f"{name}()'s width")
            elif name == "replace" and len(args) >= 2:
                _check_replace(owner, args[0], args[1], "replace()")
            elif name == "join" and args:
                items = list(args[0])
                check_size(items, "join()'s input")
                _check_joined(owner, items, "join()")
                args = (items, *args[1:])
            elif name in ("format", "format_map"):
                _check_format(owner, f"{name}()")
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(owner, list | dict | set):  # l.extend(l) in a loop doubles it
            check_size(owner, f"{name}()")
        return check_size(result, f"{name or 'a call'}()")


class _Tracer:
    """The trace function of one render: counts the template's lines and checks its clock.

    A class, not closures: a nested function that returns itself is a reference cycle, which
    only the garbage collector frees; a few of them per alert made its full collections (tens
    of ms, with the event loop stopped) come round several times more often."""

    __slots__ = ("clock_limit", "deadline", "max_steps", "step_limit", "steps")

    def __init__(self, deadline: float, max_steps: int) -> None:
        until: float | None = getattr(_first_try, "until", None)
        self.deadline = deadline
        self.max_steps = max_steps
        self.step_limit = max_steps if until is None else min(max_steps, FIRST_TRY_STEPS)
        self.clock_limit = deadline if until is None else min(deadline, until)
        self.steps = 0

    def over(self, *, step: bool) -> BaseException:
        """What to raise when a limit is passed: the bound itself, or (under first_try) NeedsThread."""
        if step and self.steps > self.max_steps:
            return RenderBoundError(f"the expression runs more than {self.max_steps} steps (loops too long)")
        if not step and time.thread_time() > self.deadline:
            return RenderBoundError("rendering took too long (the time budget is exceeded)")
        return NeedsThread()

    def on_line(self, frame: FrameType, event: str, arg: Any) -> Any:
        self.steps += 1
        if self.steps > self.step_limit:
            raise self.over(step=True)
        if time.thread_time() > self.clock_limit:
            raise self.over(step=False)
        return self.on_line

    def on_call(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != _TEMPLATE_FILE:
            return None
        return self.on_line(frame, event, arg)


def render_bounded(chunks: Iterator[str], deadline: float, *, max_steps: int = MAX_STEPS) -> str:
    """Join a template's output (``Template.generate(...)``) within the bounds.

    ``deadline`` is a ``time.thread_time()`` value. Raises RenderBoundError when the output
    passes MAX_OUTPUT characters, the template's code runs more than ``max_steps`` lines, or it
    is still running at the deadline. Under ``first_try`` it raises NeedsThread instead when
    the first try's share runs out first.
    """
    tracer = _Tracer(deadline, max_steps)
    previous = sys.gettrace()
    sys.settrace(tracer.on_call)
    try:
        out: list[str] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise RenderBoundError(f"the output passes {MAX_OUTPUT} characters")
            out.append(chunk)
            if time.thread_time() > tracer.clock_limit:
                raise tracer.over(step=False)
        return "".join(out)
    finally:
        sys.settrace(previous)
