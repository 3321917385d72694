"""API keys: parsing them from the settings and deciding whether a request may submit
scores (API keys) or use the admin API (admin keys, a separate keyring).

Only SHA-256 digests of the keys are held, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import Enum

from pydantic import SecretStr

from leaderboard.core.config import ENV_PREFIX

KEYS_VARIABLE = f"{ENV_PREFIX}INGEST_API_KEYS"
DISABLED_VARIABLE = f"{ENV_PREFIX}INGEST_DISABLED_KEYS"
ADMIN_KEYS_VARIABLE = f"{ENV_PREFIX}INGEST_ADMIN_KEYS"

#: Short keys are guessable; the local runner and operators generate long random ones.
MIN_KEY_LENGTH = 16
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class ApiKey:
    """One configured key: its caller name and the SHA-256 digest of its value."""

    name: str
    digest: bytes = b""
    disabled: bool = False

    def __repr__(self) -> str:
        return f"ApiKey(name={self.name!r}, disabled={self.disabled})"


class Outcome(Enum):
    """What the authentication of one request decided."""

    ACCEPTED = "accepted"
    MISSING = "missing"
    UNKNOWN = "unknown"
    DISABLED = "disabled"
    #: A valid key of the other keyring (a score key on an admin route, or the reverse).
    WRONG_ROLE = "wrong_role"


@dataclass(frozen=True)
class Decision:
    """The outcome, and the caller's key name when the key was recognised."""

    outcome: Outcome
    name: str | None = None


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class Keyring:
    """The configured API keys; answers whether a presented key may submit scores."""

    def __init__(self, keys: list[ApiKey]) -> None:
        if not keys:
            raise ValueError(f"{KEYS_VARIABLE} holds no key")
        self._keys = tuple(keys)

    @classmethod
    def parse(
        cls, raw: SecretStr | str | None, disabled: str = "", *, variable: str = KEYS_VARIABLE
    ) -> Keyring:
        """Parse ``name:key,name:key`` and the disabled names; ValueError says what is wrong.

        Messages name the variable (``variable``: the API keys' unless told) and the key
        *name* or position, never a key value.
        """
        text = raw.get_secret_value() if isinstance(raw, SecretStr) else raw
        if not text or not text.strip():
            raise ValueError(
                f"{variable} is required: set it to comma-separated name:key pairs "
                f"(keys of at least {MIN_KEY_LENGTH} characters); there is no default"
            )
        disabled_names = {name.strip() for name in disabled.split(",") if name.strip()}
        keys: list[ApiKey] = []
        seen_digests: dict[bytes, str] = {}
        for position, pair in enumerate(text.split(","), start=1):
            pair = pair.strip()
            if not pair:
                continue
            name, sep, key = pair.partition(":")
            name, key = name.strip(), key.strip()
            if not sep or not name or not key:
                raise ValueError(f"{variable}: entry {position} is not a name:key pair")
            if not _NAME.fullmatch(name):
                raise ValueError(
                    f"{variable}: entry {position} has a bad name {name!r} "
                    "(use 1 to 64 of A-Z a-z 0-9 _ . -)"
                )
            if len(key) < MIN_KEY_LENGTH:
                raise ValueError(
                    f"{variable}: the key named {name!r} is shorter than "
                    f"{MIN_KEY_LENGTH} characters"
                )
            if any(existing.name == name for existing in keys):
                raise ValueError(f"{variable}: the name {name!r} appears twice")
            digest = _digest(key)
            if digest in seen_digests:
                raise ValueError(
                    f"{variable}: the keys named {seen_digests[digest]!r} and {name!r} "
                    "are the same key"
                )
            seen_digests[digest] = name
            keys.append(ApiKey(name=name, digest=digest, disabled=name in disabled_names))
        if not keys:
            raise ValueError(f"{variable} holds no name:key pair")
        unknown = sorted(disabled_names - {key.name for key in keys})
        if unknown:
            # A typo here would leave a key meant to be revoked working: refuse to start.
            raise ValueError(
                f"{DISABLED_VARIABLE} names keys that {variable} does not define: "
                + ", ".join(unknown)
            )
        return cls(keys)

    @property
    def names(self) -> list[str]:
        return [key.name for key in self._keys]

    @property
    def disabled_names(self) -> list[str]:
        return [key.name for key in self._keys if key.disabled]

    def shared_with(self, other: Keyring) -> list[tuple[str, str]]:
        """The (own name, other name) pairs of keys both keyrings hold."""
        return [
            (mine.name, theirs.name)
            for mine in self._keys
            for theirs in other._keys
            if hmac.compare_digest(mine.digest, theirs.digest)
        ]

    def authenticate(self, presented: str | None) -> Decision:
        """Decide on the key a request presented (None when it sent none)."""
        if not presented:
            return Decision(Outcome.MISSING)
        digest = _digest(presented)
        match: ApiKey | None = None
        # Compare against every key, without stopping at the first match.
        for key in self._keys:
            if hmac.compare_digest(digest, key.digest):
                match = key
        if match is None:
            return Decision(Outcome.UNKNOWN)
        if match.disabled:
            return Decision(Outcome.DISABLED, match.name)
        return Decision(Outcome.ACCEPTED, match.name)


def presented_key(authorization: str | None, api_key_header: str | None) -> str | None:
    """The key a request carries: ``Authorization: Bearer <key>``, else ``X-API-Key``.

    Returns None when neither header carries a key; an Authorization header with another
    scheme does not count as a key.
    """
    if authorization:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    if api_key_header and api_key_header.strip():
        return api_key_header.strip()
    return None


def decide_role(own: Keyring | None, other: Keyring | None, presented: str | None) -> Decision:
    """Decide on a key for a route that ``own``'s keys may use and ``other``'s may not.

    A key of ``other`` is WRONG_ROLE (403: it is a real key, used on the wrong API);
    a key of neither is UNKNOWN (401). ``own`` is None when no key of that role exists.
    """
    if own is not None:
        decision = own.authenticate(presented)
        if decision.outcome is not Outcome.UNKNOWN:
            return decision
    elif not presented:
        return Decision(Outcome.MISSING)
    if other is not None:
        foreign = other.authenticate(presented)
        if foreign.outcome in (Outcome.ACCEPTED, Outcome.DISABLED):
            return Decision(Outcome.WRONG_ROLE, foreign.name)
    return Decision(Outcome.UNKNOWN)
