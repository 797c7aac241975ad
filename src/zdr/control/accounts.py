"""People and credentials: users (argon2 password hashes), memberships and admin API tokens.

Admin tokens (`zdra-…`) are shown once and stored as SHA-256 hashes (`zdr.keys`); `actor_for_token`
turns a presented token into the `Actor` that every service checks.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, select
from sqlalchemy.exc import IntegrityError

from zdr.control.context import ControlContext, find_org, guarded_org
from zdr.control.roles import ORG_ROLES, PROVIDER_ROLES, Actor, authorize
from zdr.control.views import MemberView, NewSecretView, UserView
from zdr.errors import AuthenticationFailed, Conflict, InvalidRequest, NotFound, PermissionDenied
from zdr.keys import hash_secret, new_admin_token
from zdr.store.db import utc
from zdr.store.tables import admin_tokens, console_sessions, memberships, users

_hasher = PasswordHasher()
MAX_EMAIL = 320
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
STAFF_IN_ORG = "provider staff cannot hold a role in an organization"


@cache
def _dummy_hash() -> str:
    """A hash of a random password nobody knows: verified against when there is no account to
    check, so a login for an unknown, password-less or disabled user costs the same argon2 work
    as one for a real user (the response time does not reveal which accounts exist)."""
    return _hasher.hash(secrets.token_urlsafe(32))


def actor_for_user(conn: Connection, user_id: str, email: str) -> Actor:
    """The user's roles as stored. Provider staff hold no organization role: an org membership
    row of a staff account (made before that was refused) grants nothing."""
    provider: set[str] = set()
    per_org: dict[str, set[str]] = {}
    for row in conn.execute(select(memberships).where(memberships.c.user_id == user_id)):
        if row.org_id is None:
            provider.add(row.role)
        else:
            per_org.setdefault(row.org_id, set()).add(row.role)
    if provider:
        per_org = {}
    return Actor(user_id=user_id, email=email, provider_roles=frozenset(provider),
                 org_roles={org: frozenset(roles) for org, roles in per_org.items()})


def _user(conn: Connection, email: str) -> Any:
    row = conn.execute(select(users).where(users.c.email == email.strip().lower())).first()
    if row is None:
        raise NotFound("user not found")
    return row


def _email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > MAX_EMAIL:
        raise InvalidRequest("a user needs an email address")
    return email


def _password_hash(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidRequest(f"a password has at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidRequest(f"a password has at most {MAX_PASSWORD} characters")
    return _hasher.hash(password)


def _is_staff(conn: Connection, user_id: str) -> bool:
    return conn.execute(select(memberships.c.id).where(
        memberships.c.user_id == user_id, memberships.c.org_id.is_(None))).first() is not None


def _end_console_sessions(conn: Connection, user_id: str) -> None:
    """Sign the user out of the console everywhere (zdr.control.sessions)."""
    conn.execute(delete(console_sessions).where(console_sessions.c.user_id == user_id))


class Accounts:
    def __init__(self, ctx: ControlContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------ users
    def create_user(
        self, actor: Actor, email: str, password: str | None = None,
        provider_roles: Iterable[str] = (), org_roles: Mapping[str, Iterable[str]] | None = None,
    ) -> UserView:
        """A new user (provider admins) with optional password and either provider roles or
        org roles — never both: provider staff do not join organizations. `org_roles` maps an
        org reference (`zdr.control.org_names`) to roles. Org owners add people with
        `add_member`, which tells them nothing about accounts outside their org."""
        if not actor.is_provider:
            raise PermissionDenied("permission denied: accounts are made by provider admins; "
                                   "add people to your organization as members (add-member)")
        self.ctx.guard(actor, "user.create", None)
        email = _email(email)
        password_hash = None if password is None else _password_hash(password)
        provider = sorted(set(provider_roles))
        unknown = [r for r in provider if r not in PROVIDER_ROLES]
        if unknown:
            raise InvalidRequest(f"unknown provider role {unknown[0]!r}")
        if provider and org_roles:
            raise InvalidRequest(STAFF_IN_ORG)
        user_id = str(uuid.uuid4())
        try:
            with self.ctx.write() as conn:
                grants = self._grants(conn, actor, org_roles or {})
                conn.execute(users.insert().values(
                    id=user_id, email=email, created_at=self.ctx.now(),
                    password_hash=password_hash,
                ))
                for role in provider:
                    grants.append((None, role))
                for org_id, role in grants:
                    conn.execute(memberships.insert().values(
                        id=str(uuid.uuid4()), user_id=user_id, org_id=org_id, role=role))
                self.ctx.record(conn, actor, "user.create", None, email, None,
                                {"provider_roles": provider,
                                 "org_roles": [[o, r] for o, r in grants if o is not None]})
                view = self._view(conn, user_id)
        except IntegrityError:
            raise Conflict(f"a user {email} already exists") from None
        return view

    def add_member(self, actor: Actor, org: str, email: str, role: str) -> MemberView:
        """Give the person with `email` a role in `org` (its owner, or a provider admin).

        The answer, the org's member list and the org's audit log read the same whether or not
        an account with that email exists, and whatever it holds elsewhere: a new account
        (without a password, until a provider admin sets one) is made when there is none.
        Provider staff are never pulled in: a provider admin, who may see every account anyway,
        is told; for an org owner the membership is recorded like any other, but grants nothing
        — a staff account holds no org role (`actor_for_user`).
        """
        if role not in ORG_ROLES:
            raise InvalidRequest(f"unknown org role {role!r}; one of {', '.join(ORG_ROLES)}")
        email = _email(email)
        with self.ctx.write() as conn:
            org_id = guarded_org(self.ctx, conn, actor, "membership.grant", org).id
            row = conn.execute(select(users.c.id).where(users.c.email == email)).first()
            if row is not None and authorize(actor, "user.read", None).allowed \
                    and _is_staff(conn, row.id):
                raise Conflict(STAFF_IN_ORG)
            if row is None:
                user_id = str(uuid.uuid4())
                conn.execute(users.insert().values(id=user_id, email=email,
                                                   created_at=self.ctx.now()))
                self.ctx.record(conn, actor, "user.create", None, email, None,
                                {"provider_roles": [], "org_roles": [[org_id, role]]})
            else:
                user_id = row.id
            held = set(conn.execute(select(memberships.c.role).where(
                memberships.c.user_id == user_id, memberships.c.org_id == org_id)).scalars())
            if role not in held:
                conn.execute(memberships.insert().values(
                    id=str(uuid.uuid4()), user_id=user_id, org_id=org_id, role=role))
                self.ctx.record(conn, actor, "membership.grant", org_id, email, None,
                                {"role": role})
        return MemberView(email=email, org_id=org_id, roles=tuple(sorted(held | {role})))

    def grant(self, actor: Actor, email: str, org: str, role: str) -> MemberView:
        """Give a user a role in an organization: `add_member`."""
        return self.add_member(actor, org, email, role)

    def members(self, actor: Actor, org: str) -> list[MemberView]:
        """The memberships of one organization, as added (its owners and admins see them). The
        list says nothing an owner did not already know: it holds every email added, whatever
        its account (a disabled account, or a staff account whose membership grants nothing)."""
        with self.ctx.read() as conn:
            org_id = guarded_org(self.ctx, conn, actor, "member.read", org).id
            rows = conn.execute(
                select(users.c.email, memberships.c.role)
                .join(memberships, memberships.c.user_id == users.c.id)
                .where(memberships.c.org_id == org_id)
                .order_by(users.c.email, memberships.c.role)).all()
        roles: dict[str, list[str]] = {}
        for row in rows:
            roles.setdefault(row.email, []).append(row.role)
        return [MemberView(email=e, org_id=org_id, roles=tuple(r)) for e, r in roles.items()]

    def set_password(
        self, actor: Actor, email: str, password: str, current_password: str | None = None,
    ) -> None:
        """Set a user's console password: your own (with the current one), or anyone's as a
        provider admin. Every console session of the user ends, on every worker."""
        email = email.strip().lower()
        own = email == actor.email
        if not own:
            self.ctx.guard(actor, "user.manage", None)
        password_hash = _password_hash(password)
        if own:
            if not current_password:
                raise InvalidRequest("enter your current password")
            try:
                self.check_password(email, current_password)
            except AuthenticationFailed:
                raise InvalidRequest("the current password is not right") from None
        with self.ctx.write() as conn:
            user = _user(conn, email)
            conn.execute(users.update().where(users.c.id == user.id)
                         .values(password_hash=password_hash))
            _end_console_sessions(conn, user.id)
            self.ctx.record(conn, actor, "user.set_password", None, email, None,
                            {"console_sessions": "ended"})

    def disable_user(self, actor: Actor, email: str) -> None:
        """Disable a user (provider admins): no sign-in, no admin token, sessions ended now."""
        self.ctx.guard(actor, "user.manage", None)
        with self.ctx.write() as conn:
            user = _user(conn, email)
            if user.disabled_at is not None:
                raise Conflict("the user is already disabled")
            now = self.ctx.now()
            conn.execute(users.update().where(users.c.id == user.id).values(disabled_at=now))
            _end_console_sessions(conn, user.id)
            self.ctx.record(conn, actor, "user.disable", None, user.email,
                            {"disabled_at": None}, {"disabled_at": now})

    def _grants(
        self, conn: Connection, actor: Actor, org_roles: Mapping[str, Iterable[str]]
    ) -> list[tuple[str | None, str]]:
        grants: list[tuple[str | None, str]] = []
        for ref, roles in org_roles.items():
            org_id = find_org(conn, ref).id
            self.ctx.guard(actor, "membership.grant", org_id)
            for role in sorted(set(roles)):
                if role not in ORG_ROLES:
                    raise InvalidRequest(f"unknown org role {role!r}")
                grants.append((org_id, role))
        return grants

    def _view(self, conn: Connection, user_id: str) -> UserView:
        row = conn.execute(select(users).where(users.c.id == user_id)).one()
        who = actor_for_user(conn, row.id, row.email)
        return UserView(id=row.id, email=row.email, created_at=utc(row.created_at),
                        provider_roles=tuple(sorted(who.provider_roles)),
                        org_roles={o: tuple(sorted(r)) for o, r in who.org_roles.items()})

    def actor_for_email(self, email: str) -> Actor:
        with self.ctx.read() as conn:
            row = _user(conn, email)
            if row.disabled_at is not None:
                raise AuthenticationFailed("this user is disabled")
            return actor_for_user(conn, row.id, row.email)

    def check_password(self, email: str, password: str) -> Actor:
        """The actor for a console login; one message for every failure."""
        failure = AuthenticationFailed("invalid email or password")
        with self.ctx.read() as conn:
            row = conn.execute(select(users).where(users.c.email == email.strip().lower())).first()
            stored: str | None = None
            if row is not None and row.disabled_at is None:
                stored = row.password_hash
            try:
                _hasher.verify(stored if stored is not None else _dummy_hash(), password)
            except (VerificationError, InvalidHashError):
                raise failure from None
            if row is None or stored is None:   # the dummy hash never matches: belt and braces
                raise failure
            return actor_for_user(conn, row.id, row.email)

    # ------------------------------------------------------------------ tokens
    def create_token(self, actor: Actor, email: str) -> NewSecretView:
        """An admin API token for `email` (anyone for themselves; provider admins for anyone)."""
        token = new_admin_token()
        token_id = str(uuid.uuid4())
        with self.ctx.write() as conn:
            user = _user(conn, email)
            if user.id != actor.user_id:
                self.ctx.guard(actor, "token.create", None)
            conn.execute(admin_tokens.insert().values(
                id=token_id, user_id=user.id, prefix=token.prefix, token_hash=token.digest,
                created_at=self.ctx.now(),
            ))
            self.ctx.record(conn, actor, "token.create", None, token.prefix, None,
                            {"user": user.email, "prefix": token.prefix})
        return NewSecretView(id=token_id, prefix=token.prefix, secret=token.secret)

    def revoke_token(self, actor: Actor, prefix: str) -> NewSecretView:
        """Revoke an admin token by prefix (anyone their own; provider admins any)."""
        with self.ctx.write() as conn:
            row = conn.execute(select(admin_tokens).where(admin_tokens.c.prefix == prefix)).first()
            if row is None:
                raise NotFound("admin token not found")
            if row.user_id != actor.user_id:
                self.ctx.guard(actor, "token.revoke", None)
            if row.revoked_at is not None:
                raise Conflict("the admin token is already revoked")
            now = self.ctx.now()
            conn.execute(admin_tokens.update().where(admin_tokens.c.id == row.id)
                         .values(revoked_at=now))
            self.ctx.record(conn, actor, "token.revoke", None, prefix, {"revoked_at": None},
                            {"revoked_at": now})
        return NewSecretView(id=row.id, prefix=prefix, secret="")

    def list_users(self, actor: Actor) -> list[UserView]:
        self.ctx.guard(actor, "user.read", None)
        with self.ctx.read() as conn:
            ids = conn.execute(select(users.c.id).order_by(users.c.email)).scalars().all()
            return [self._view(conn, user_id) for user_id in ids]

    def actor_for_token(self, secret: str) -> Actor:
        failure = AuthenticationFailed("invalid admin token")
        with self.ctx.read() as conn:
            row = conn.execute(
                select(admin_tokens.c.revoked_at, users.c.id, users.c.email, users.c.disabled_at)
                .join(users, users.c.id == admin_tokens.c.user_id)
                .where(admin_tokens.c.token_hash == hash_secret(secret))
            ).first()
            if row is None or row.revoked_at is not None or row.disabled_at is not None:
                raise failure
            return actor_for_user(conn, row.id, row.email)
