"""The FastAPI dependency that checks a request's key, for either keyring (scores or admin).

The decision itself is ``leaderboard.ingest.auth``'s; this maps it to 401, 403 or 503.
"""

# No `from __future__ import annotations`: FastAPI resolves the dependency's annotations.
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated

from fastapi import HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from leaderboard.ingest.auth import Decision, Outcome, presented_key

#: Why a recognised key is refused (403), by outcome, from the key's name.
Refusals = Mapping[Outcome, Callable[[str | None], str]]


def key_guard(
    decide: Callable[[str | None], Decision],
    *,
    kind: str,
    realm: str,
    refusals: Refusals,
    off: str | None = None,
) -> Callable[..., Awaitable[str]]:
    """The dependency deciding on the caller's key; returns the key's name.

    ``kind`` names the key in messages ("API key"); with ``off`` set, every request
    answers 503 with that explanation (the routes exist but are not configured).
    """
    # Declared for the OpenAPI docs ("Authorize" button); the decision reads the headers.
    bearer = HTTPBearer(auto_error=False, description=f"`Authorization: Bearer <{kind}>`")
    api_key = APIKeyHeader(
        name="X-API-Key", auto_error=False, description="Alternative to the bearer header."
    )

    async def authenticate(
        request: Request,
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
        _api_key: Annotated[str | None, Security(api_key)],
    ) -> str:
        if off is not None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=off)
        decision = decide(
            presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
        )
        if decision.outcome is Outcome.ACCEPTED:
            assert decision.name is not None
            request.state.caller = decision.name
            return decision.name
        if decision.outcome in refusals:
            request.state.caller = decision.name
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail=refusals[decision.outcome](decision.name)
            )
        if decision.outcome is Outcome.MISSING:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail=f"missing {kind}: send `Authorization: Bearer <key>` "
                "(or `X-API-Key: <key>`)",
                headers={"WWW-Authenticate": f'Bearer realm="{realm}"'},
            )
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=f"unknown {kind}",
            headers={"WWW-Authenticate": f'Bearer realm="{realm}", error="invalid_token"'},
        )

    return authenticate
