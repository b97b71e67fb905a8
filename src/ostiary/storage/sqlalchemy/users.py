"""SQL user store and user-access store (Core statements, no ORM unit of work).

Every write that changes what a cached principal holds — the user record itself (`update`) or the
user's roles and groups (`set_access`) — bumps the authorization version in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from ostiary.core.errors import Conflict
from ostiary.storage.interfaces.users import NewUser, UserAccess, UserRecord
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.versioning import bump_rbac_version

_UPDATABLE = frozenset(
    {
        "username",
        "email",
        "password_hash",
        "password_changed_at",
        "disabled",
        "mfa_enabled",
        "email_verified",
        "tokens_not_before",
        "updated_at",
    }
)


def login_key(value: str) -> str:
    """Usernames and emails are matched case-insensitively."""
    return value.strip().casefold()


def _record(row: RowMapping) -> UserRecord:
    return UserRecord(
        id=row["id"],
        username=row["username"],
        email=row["email"],
        password_hash=row["password_hash"],
        disabled=bool(row["disabled"]),
        mfa_enabled=bool(row["mfa_enabled"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        password_changed_at=row["password_changed_at"],
        email_verified=bool(row["email_verified"]),
        tokens_not_before=row["tokens_not_before"],
    )


class SqlUserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str) -> UserRecord | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(t.users).where(t.users.c.id == user_id))).mappings().first()
        return _record(row) if row else None

    async def find_by_login(self, login: str) -> UserRecord | None:
        key = login_key(login)
        column = t.users.c.email_key if "@" in key else t.users.c.username_key
        async with self._db.read() as conn:
            row = (await conn.execute(select(t.users).where(column == key))).mappings().first()
        return _record(row) if row else None

    async def create(self, user: NewUser) -> None:
        values = {
            "id": user.id,
            "username": user.username,
            "username_key": login_key(user.username),
            "email": user.email,
            "email_key": login_key(user.email) if user.email else None,
            "email_verified": user.email_verified,
            "password_hash": user.password_hash,
            "password_changed_at": user.created_at if user.password_hash else None,
            "disabled": user.disabled,
            "mfa_enabled": False,
            "created_at": user.created_at,
            "updated_at": user.created_at,
        }
        try:
            async with self._db.write() as conn:
                await conn.execute(insert(t.users).values(**values))
        except IntegrityError as exc:
            raise Conflict("An account with this username or email already exists.") from exc

    async def update(self, user_id: str, **changes: object) -> bool:
        values = dict(changes)
        updated_at = values.pop("updated_at", None)
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if "username" in values:
            values["username_key"] = login_key(str(values["username"]))
        if "email" in values:
            email = values["email"]
            values["email_key"] = login_key(str(email)) if email else None
        if updated_at is not None:
            values["updated_at"] = updated_at
        try:
            async with self._db.write() as conn:
                result = await conn.execute(update(t.users).where(t.users.c.id == user_id).values(**values))
                if result.rowcount:
                    # Cached principals carry the user record (username, email, disabled): every
                    # worker's cache must drop it, and they watch this version (SEC-12).
                    await bump_rbac_version(conn)
        except IntegrityError as exc:
            raise Conflict("An account with this username or email already exists.") from exc
        return result.rowcount > 0

    async def list(self, *, offset: int = 0, limit: int = 100) -> list[UserRecord]:
        query = select(t.users).order_by(t.users.c.username_key).offset(offset).limit(limit)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_record(row) for row in rows]


class SqlUserAccessStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def access_of(self, user_id: str) -> UserAccess:
        async with self._db.read() as conn:
            role_rows = await conn.execute(
                select(t.user_roles.c.role).where(t.user_roles.c.user_id == user_id)
            )
            roles = frozenset(role_rows.scalars())
            group_rows = await conn.execute(
                select(t.user_groups.c.group_name).where(t.user_groups.c.user_id == user_id)
            )
            groups = frozenset(group_rows.scalars())
        return UserAccess(roles=roles, groups=groups)

    async def set_access(self, user_id: str, access: UserAccess) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(t.user_roles).where(t.user_roles.c.user_id == user_id))
            await conn.execute(delete(t.user_groups).where(t.user_groups.c.user_id == user_id))
            if access.roles:
                await conn.execute(
                    insert(t.user_roles), [{"user_id": user_id, "role": r} for r in access.roles]
                )
            if access.groups:
                await conn.execute(
                    insert(t.user_groups), [{"user_id": user_id, "group_name": g} for g in access.groups]
                )
            await bump_rbac_version(conn)
