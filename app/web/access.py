"""Who may use the pages and the control endpoints: the auth file, the password hasher, the login
throttle and the command line's signed control header.

The auth file (``server.auth_file``, default ``tvbridge_auth.toml``, git-ignored) is flat TOML with
mode 0600, rewritten atomically: ``session_secret`` signs the session cookies, ``control_key`` signs
the ``tvbridge pause|resume|flatten`` requests, ``password_hash`` (argon2id) is absent until
``tvbridge set-password``. Nothing here logs a password, a hash or a key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import secrets
import time
import tomllib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from app.errors import ConfigError
from app.files import write_atomically

log = logging.getLogger(__name__)

MIN_PASSWORD_CHARS = 8
CONTROL_HEADER = "X-TVBridge-Control"
CONTROL_SALT = "tvbridge-control"
CONTROL_MAX_AGE_S = 30
CONTROL_ACTIONS = ("pause", "resume", "flatten", "plan")
COMMAND_LINE = "command line"  # the journal's "by" for what the command line did
_HEADER = (
    "# tvbridge web login and control keys. Keep this file private (mode 0600, git-ignored).\n"
    "# `tvbridge set-password` sets the password; delete a key to have a new one made at start.\n"
)


@dataclass(frozen=True)
class AuthKeys:
    """The auth file's contents. ``repr`` shows no secret."""

    session_secret: str = field(repr=False)
    control_key: str = field(repr=False)
    password_hash: str | None = field(default=None, repr=False)
    # Changed by a logout and by set-password: a session made under another epoch is over, so a
    # copied cookie stops working (the cookie alone cannot be revoked).
    session_epoch: str = field(default="", repr=False)

    @property
    def password_fingerprint(self) -> str:
        """A short digest of the password hash, kept in a session: it changes with the password,
        so a session made before ``set-password`` stops working. Empty when no password is set."""
        if not self.password_hash:
            return ""
        return hashlib.sha256(self.password_hash.encode("utf-8")).hexdigest()[:16]


def load_auth(path: Path, *, create: bool) -> AuthKeys:
    """Read the auth file. With ``create``, make the missing keys (and the file) first.

    Raises ConfigError naming the file when it cannot be read, is not valid TOML, or (without
    ``create``) does not exist or lacks a key.
    """
    data = _read(path)
    missing = [key for key in ("session_secret", "control_key") if not data.get(key)]
    if missing and create:
        for key in missing:
            data[key] = secrets.token_urlsafe(32)
        _write(path, data)
    elif missing:
        raise ConfigError(
            f"Auth file {path} has no {' or '.join(missing)}: run `tvbridge serve` once in this "
            "directory to make the keys (or check server.auth_file)"
        )
    return AuthKeys(
        data["session_secret"],
        data["control_key"],
        data.get("password_hash") or None,
        data.get("session_epoch", ""),
    )


def set_password(path: Path, password: str, *, hasher: PasswordHasher | None = None) -> AuthKeys:
    """Store the argon2id hash of ``password`` in the auth file, keeping (or making) the keys.

    ``hasher`` defaults to argon2-cffi's recommended parameters. Raises ConfigError when the
    password is shorter than 8 characters or the file cannot be read.
    """
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(
            f"The password has {len(password)} characters; use at least {MIN_PASSWORD_CHARS} "
            "(a phrase of a few words is easy to type and hard to guess)"
        )
    keys = load_auth(path, create=True)
    password_hash = (hasher or PasswordHasher()).hash(password)
    kept = {"session_secret": keys.session_secret, "control_key": keys.control_key}
    epoch = secrets.token_urlsafe(12)  # every session made before the new password ends
    _write(path, {**kept, "password_hash": password_hash, "session_epoch": epoch})
    return AuthKeys(keys.session_secret, keys.control_key, password_hash, epoch)


def end_sessions(path: Path) -> AuthKeys:
    """Start a new session epoch in the auth file: every login made before (every browser, every
    copied cookie) must log in again. Raises ConfigError when the file cannot be read."""
    keys = load_auth(path, create=False)
    epoch = secrets.token_urlsafe(12)
    data = {
        "session_secret": keys.session_secret,
        "control_key": keys.control_key,
        "password_hash": keys.password_hash or "",
        "session_epoch": epoch,
    }
    _write(path, data)
    return AuthKeys(keys.session_secret, keys.control_key, keys.password_hash, epoch)


def verify_password(keys: AuthKeys, password: str) -> bool:
    """Whether ``password`` matches the stored hash (False when none is set). Slow by design
    (argon2): call it from a worker thread."""
    if not keys.password_hash:
        return False
    try:
        return PasswordHasher().verify(keys.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class AuthFile:
    """The auth file as the running server sees it: read again whenever it changes on disk, so a
    ``tvbridge set-password`` takes effect without a restart."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self._keys = load_auth(path, create=create)
        self._seen = self._stamp()
        if not self._keys.password_hash:
            log.warning(
                "no password is set for the web pages (%s): run `tvbridge set-password` to log in", path
            )

    def keys(self) -> AuthKeys:
        """The current keys (one ``stat`` per call; the file is read only when it changed).

        Never raises: a deleted file, or one edited by hand so that it no longer reads, keeps the
        keys read last (logged). ``tvbridge set-password`` writes atomically, never half a file.
        """
        stamp = self._stamp()
        if stamp is not None and stamp != self._seen:
            self._seen = stamp
            try:
                self._keys = load_auth(self.path, create=False)
            except ConfigError as exc:
                log.error("%s; the web login keeps the keys read before", exc)
        return self._keys

    def end_sessions(self) -> None:
        """End every session now (a logout): see :func:`end_sessions`. Raises ConfigError."""
        self._keys = end_sessions(self.path)
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        # os.replace gives a new inode, so even two writes within one mtime tick are seen.
        return (st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass
class _Failures:
    times: deque[float] = field(default_factory=deque)  # failures inside the window
    lock_s: float = 0.0  # the last lock's length; 0 until the address was first locked
    until: float = 0.0  # locked until (clock time)


class LoginThrottle:
    """Wrong passwords per client address: after ``max_failures`` within ``window_s`` the address
    is locked for ``first_lock_s`` (30 s); every further failure locks it again for twice as
    long, up to ``max_lock_s`` (15 min). A success, or ``window_s`` without a failure after the
    last lock, forgets the address."""

    def __init__(
        self,
        *,
        max_failures: int = 5,
        window_s: float = 900.0,
        first_lock_s: float = 30.0,
        max_lock_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.first_lock_s = first_lock_s
        self.max_lock_s = max_lock_s
        self._clock = clock
        self._addresses: dict[str, _Failures] = {}

    def retry_after(self, address: str) -> int:
        """Whole seconds until ``address`` may try again; 0 when it is not locked."""
        entry = self._addresses.get(address)
        return max(0, math.ceil(entry.until - self._clock())) if entry else 0

    def failed(self, address: str) -> int:
        """Count a wrong password; return the lock it starts in whole seconds (0: none yet)."""
        now = self._clock()
        self._forget_old(now)
        entry = self._addresses.setdefault(address, _Failures())
        if entry.lock_s:
            entry.lock_s = min(entry.lock_s * 2, self.max_lock_s)
        else:
            entry.times.append(now)
            if len(entry.times) < self.max_failures:
                return 0
            entry.lock_s = self.first_lock_s
        entry.until = now + entry.lock_s
        return math.ceil(entry.lock_s)

    def succeeded(self, address: str) -> None:
        """Forget the address's failures and lock."""
        self._addresses.pop(address, None)

    def _forget_old(self, now: float) -> None:
        # Bounded memory: an address quiet for the whole window is dropped.
        for address, entry in list(self._addresses.items()):
            while entry.times and now - entry.times[0] > self.window_s:
                entry.times.popleft()
            quiet = now - entry.until > self.window_s if entry.lock_s else not entry.times
            if quiet:
                del self._addresses[address]


def sign_control(control_key: str, action: str) -> str:
    """The ``X-TVBridge-Control`` header value for ``action`` (pause, resume, flatten, plan):
    an itsdangerous timestamped signature of ``<action>:<nonce>``, valid once within 30 s (the
    nonce tells apart two commands signed within the same second)."""
    value = f"{action}:{secrets.token_urlsafe(9)}"
    return TimestampSigner(control_key, salt=CONTROL_SALT).sign(value).decode("ascii")


class ControlVerifier:
    """Check ``X-TVBridge-Control`` headers: signed with the control key, for this action, at most
    30 s old, and each used once (a copied header cannot be replayed)."""

    def __init__(self, *, max_age_s: int = CONTROL_MAX_AGE_S, clock: Callable[[], float] = time.time) -> None:
        self.max_age_s = max_age_s
        self._clock = clock
        self._used: dict[str, float] = {}

    def check(self, control_key: str, header: str, action: str) -> str | None:
        """None when ``header`` authorizes ``action``; otherwise the reason, for the 401 answer."""
        signer = TimestampSigner(control_key, salt=CONTROL_SALT)
        try:
            value = signer.unsign(header, max_age=self.max_age_s)
        except SignatureExpired:
            return (
                f"the {CONTROL_HEADER} header is older than {self.max_age_s} s: "
                "run the command again (and check this machine's clock)"
            )
        except BadSignature:
            return (
                f"the {CONTROL_HEADER} header is not signed with this bridge's control key: run the "
                "command in the bridge's directory (the same server.auth_file)"
            )
        if value.decode("utf-8", "replace").split(":", 1)[0] != action:
            return f"the {CONTROL_HEADER} header was signed for another action, not '{action}'"
        now = self._clock()
        self._used = {h: at for h, at in self._used.items() if now - at <= self.max_age_s + 1}
        if header in self._used:
            return f"this {CONTROL_HEADER} header was already used: run the command again"
        self._used[header] = now
        return None


def _read(path: Path) -> dict[str, str]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"Auth file {path} cannot be read ({exc}): delete it and run `tvbridge set-password` "
            "(new keys are made; web pages and commands then need the new password)"
        ) from None
    wrong = [key for key, value in data.items() if not isinstance(value, str)]
    if wrong:
        raise ConfigError(
            f"Auth file {path}: '{wrong[0]}' must be a string; delete the line to have it made again"
        )
    return data


def _write(path: Path, data: dict[str, str]) -> None:
    # Every value is a token or an argon2 PHC string (ASCII, no control characters), so a JSON
    # string literal is a valid TOML basic string.
    lines = [f"{key} = {json.dumps(value)}\n" for key, value in data.items() if value]
    write_atomically(path, (_HEADER + "".join(lines)).encode("utf-8"), mode=0o600)
