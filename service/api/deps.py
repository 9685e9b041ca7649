"""Request dependencies: database session, the caller's API key, role checks.

Routers declare what they need with the ``Annotated`` aliases::

    @router.get("/things")
    def things(session: SessionDep, key: ReaderKey) -> ...

and other parts guard their own routes with ``require_role``::

    EnterpriseKey = Annotated[ApiKey, Depends(require_role("enterprise", "admin"))]

The key is read from ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; a missing,
unknown or revoked key is 401, a key of another role 403.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from aqcast.features.timeutil import to_store_or_none
from aqcast.service.api.errors import ApiError
from aqcast.service.auth import READ_ROLES, ROLES, lookup_key
from aqcast.service.settings import Settings
from aqcast.service.store import engine_for
from aqcast.service.tables import ApiKey

bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer <api key>`")
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The API key in the `X-API-Key` header."
)
KEY_COOKIE = "aqcast_key"


# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in
# its thread pool, and each such hop costs more than the dependency itself.
async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine_dep(request: Request) -> Engine:
    return engine_for(request.app.state.settings.database_url)


@lru_cache(maxsize=8)
def _session_factory(engine: Engine) -> sessionmaker:
    # one factory per engine: building a sessionmaker costs more than a small query
    return sessionmaker(bind=engine, expire_on_commit=False)


def get_session(engine: Annotated[Engine, Depends(get_engine_dep)]) -> Iterator[Session]:
    """One session per request, committed when the handler returns without error."""
    session = _session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def get_now(request: Request) -> datetime:
    """The app's clock as naive UTC (a demo replays days with a simulated clock)."""
    clock = request.app.state.clock
    now = clock.now() if hasattr(clock, "now") else clock()
    return to_store_or_none(now)


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
# committed before the response is sent: a client never sees a success that did not commit
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
NowDep = Annotated[datetime, Depends(get_now)]


def presented_key(
    bearer: HTTPAuthorizationCredentials | None, header_key: str | None
) -> str | None:
    if bearer is not None and bearer.scheme.lower() == "bearer" and bearer.credentials:
        return bearer.credentials.strip()
    if header_key:
        return header_key.strip()
    return None


def get_current_key(
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    header_key: Annotated[str | None, Security(api_key_scheme)],
) -> ApiKey:
    key = presented_key(bearer, header_key)
    challenge = {"WWW-Authenticate": "Bearer"}
    if not key:
        raise ApiError(401, "an API key is required", headers=challenge)
    row = lookup_key(session, key)
    if row is None:
        raise ApiError(401, "the API key is not valid", headers=challenge)
    return row


CurrentKey = Annotated[ApiKey, Depends(get_current_key)]


def require_role(*roles: str) -> Callable[[ApiKey], ApiKey]:
    """A dependency returning the caller's key if its role is one of ``roles``, else 403."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}; known: {ROLES}")

    async def _check(key: CurrentKey) -> ApiKey:
        if key.role not in roles:
            raise ApiError(
                403,
                f"the role {key.role!r} may not do this",
                detail={"allowed_roles": list(roles)},
            )
        return key

    _check.__name__ = "require_role_" + "_".join(roles)
    return _check


ReaderKey = Annotated[ApiKey, Depends(require_role(*READ_ROLES))]
AdminKey = Annotated[ApiKey, Depends(require_role("admin"))]
