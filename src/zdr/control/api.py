"""The admin API: JSON over the control services, at `/admin/v1/…`, with its OpenAPI document.

    app = build_admin_app(lambda: plane)     # plane: zdr.control.plane.ControlPlane

The app's routes carry the full `/admin/v1` prefix, so the gateway hands it every request whose
path starts with `/admin/v1` unchanged (no path rewriting). The OpenAPI document is served at
`/admin/v1/openapi.json`, interactive docs at `/admin/v1/docs` (Swagger UI served from this
origin: `zdr.control.docs`).

Every request needs `Authorization: Bearer zdra-…` (an admin token from `zdr init` or
`zdr tokens create`); the services decide what its user may do. Every error — including unknown
routes and invalid bodies — uses the Anthropic error format `{"type": "error", "error": {…}}` with
400/401/403/404/409/422, and 503 when the database is unavailable (`zdr.outage`); error
messages name fields, never echo what was sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from zdr.control import api_models as m
from zdr.control.audit import AuditEntry, ChainReport
from zdr.control.docs import install_docs
from zdr.control.flagged import FlaggedContent
from zdr.control.org_names import OrgId, OrgName
from zdr.control.plane import ControlPlane
from zdr.control.roles import Actor
from zdr.control.views import (
    FlaggedView,
    KeyView,
    MemberView,
    NewSecretView,
    OrgView,
    UserView,
    WorkspaceView,
    ZdrRequestView,
)
from zdr.errors import (
    AuthenticationFailed,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PermissionDenied,
    StoreUnavailable,
    Unprocessable,
    ZdrError,
    render,
)
from zdr.outage import error_json, log_failure, outage_types
from zdr.store.holds import Hold

PREFIX = "/admin/v1"
MAX_ID = 2**62     # integer ids and sequence numbers fit a signed 64-bit column
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": m.ErrorBody, "description": text} for status, text in (
        (400, "invalid request"), (401, "missing or invalid admin token"),
        (403, "the token's user lacks the role"), (404, "not found (or not visible)"),
        (409, "conflicts with the current state"), (422, "invalid body or parameters"),
        (503, "the database is unavailable; retry shortly"),
    )
}
_bearer = HTTPBearer(auto_error=False, description="An admin token: `zdra-…`")
ServicesFactory = Callable[[], ControlPlane]


def _status_error(status: int) -> ZdrError:
    """The tree's member for a status Starlette raised (an unknown route, a wrong method)."""
    return {
        401: AuthenticationFailed("authentication required"),
        403: PermissionDenied("permission denied"),
        404: NotFound("not found"),
        405: MethodNotAllowed("method not allowed"),
    }.get(status) or InvalidRequest("invalid request")


def _answer(error: BaseException, headers: Mapping[str, str] | None = None) -> JSONResponse:
    status, body = render(error)
    return JSONResponse(body, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ZdrError)
    async def _zdr_error(_: Request, error: ZdrError) -> JSONResponse:
        if isinstance(error, StoreUnavailable):
            log_failure(error, "admin_api")
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return _answer(error, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for item in error.errors()[:5]:
            where = ".".join(str(part) for part in item.get("loc", ()))
            problems.append(f"{where}: {item.get('msg', 'invalid')}")
        return _answer(Unprocessable("; ".join(problems) or "invalid request"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return _answer(_status_error(error.status_code), error.headers)

    async def _store(_: Request, error: Exception) -> JSONResponse:
        log_failure(error, "admin_api")         # an outage: 503; a query's own error: 500
        status, body = error_json(error)
        return JSONResponse(body, status_code=status)

    for kind in outage_types():      # what the store's translation cannot reach (pool timeout)
        app.add_exception_handler(kind, _store)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        return _answer(error)


def plane(request: Request) -> ControlPlane:
    factory: ServicesFactory = request.app.state.services_factory
    return factory()


def current_actor(
    services: Annotated[ControlPlane, Depends(plane)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationFailed("an admin token is required: Authorization: Bearer zdra-…")
    return services.accounts.actor_for_token(credentials.credentials)


S = Annotated[ControlPlane, Depends(plane)]
A = Annotated[Actor, Depends(current_actor)]
OrgRef = Annotated[str, Path(
    description="the organization's id, or its name: a UUID is only ever looked up as an id, "
                "anything else only as a name (no name may look like an id)", max_length=200)]
Email = Annotated[str, Path(min_length=3, max_length=320)]
OrgQuery = Annotated[str | None, Query(
    max_length=200, description="the organization's id or name, read as `{org}` in paths")]
OrgIdQuery = Annotated[str | None, Query(max_length=200, description="the organization's id")]
OrgNameQuery = Annotated[str | None, Query(max_length=200,
                                           description="the organization's name")]


def org_query(org: str | None, org_id: str | None, org_name: str | None) -> str | None:
    """One organization from the query: `org_id` (by id only), `org_name` (by name only) or
    `org` (by its shape); at most one of them."""
    if sum(value is not None for value in (org, org_id, org_name)) > 1:
        raise InvalidRequest("give one of org, org_id and org_name")
    if org_id is not None:
        return OrgId(org_id)
    if org_name is not None:
        return OrgName(org_name)
    return org
r = APIRouter(responses=ERRORS)


def build_admin_app(services_factory: ServicesFactory) -> FastAPI:
    """The admin API over the control plane that `services_factory` returns."""
    app = FastAPI(
        title="zdr-gateway admin API", version="1",
        openapi_url=f"{PREFIX}/openapi.json", docs_url=None, redoc_url=None,
        description=__doc__,
    )
    install_docs(app, PREFIX)       # Swagger UI from the package, never a CDN
    app.state.services_factory = services_factory
    _install_error_handlers(app)
    app.include_router(r, prefix=PREFIX)
    return app


@r.get("/me", response_model=m.ActorView, tags=["accounts"])
def me(who: A) -> m.ActorView:
    return m.ActorView(user_id=who.user_id, email=who.email,
                       provider_roles=sorted(who.provider_roles),
                       org_roles={o: sorted(v) for o, v in who.org_roles.items()})

# -- organizations ------------------------------------------------------------------------
@r.get("/orgs", tags=["orgs"])
def list_orgs(
    s: S, who: A, include_deleted: bool = False,
    name: Annotated[str | None, Query(max_length=200, description="only the org of this name")]
    = None,
) -> list[OrgView]:
    if name is None:
        return s.orgs.list(who, include_deleted=include_deleted)
    try:
        found = s.orgs.show(who, OrgName(name))
    except NotFound:
        return []
    return [found] if include_deleted or found.deleted_at is None else []

@r.post("/orgs", status_code=201, tags=["orgs"])
def create_org(s: S, who: A, body: m.OrgCreate) -> OrgView:
    return s.orgs.create(who, body.name, body.plan)

@r.get("/orgs/{org}", tags=["orgs"])
def show_org(s: S, who: A, org: OrgRef) -> OrgView:
    return s.orgs.show(who, org)

@r.delete("/orgs/{org}", tags=["orgs"])
def delete_org(s: S, who: A, org: OrgRef) -> OrgView:
    return s.orgs.delete(who, org)

@r.post("/orgs/{org}/restore", tags=["orgs"])
def restore_org(s: S, who: A, org: OrgRef) -> OrgView:
    return s.orgs.restore(who, org)

# -- arrangements -------------------------------------------------------------------------
@r.get("/orgs/{org}/zdr", tags=["zdr"])
def zdr_history(s: S, who: A, org: OrgRef) -> list[ZdrRequestView]:
    return s.arrangements.zdr_history(who, org)

@r.post("/orgs/{org}/zdr/request", tags=["zdr"])
def request_zdr(s: S, who: A, org: OrgRef, body: m.ZdrRequestBody) -> OrgView:
    return s.arrangements.request_zdr(who, org, body.reason)

@r.post("/orgs/{org}/zdr/approve", tags=["zdr"])
def approve_zdr(s: S, who: A, org: OrgRef, body: m.ZdrDecisionBody) -> OrgView:
    return s.arrangements.approve_zdr(who, org, body.effective_at, body.note)

@r.post("/orgs/{org}/zdr/deny", tags=["zdr"])
def deny_zdr(s: S, who: A, org: OrgRef, body: m.ZdrNoteBody) -> OrgView:
    return s.arrangements.deny_zdr(who, org, body.note)

@r.post("/orgs/{org}/zdr/revoke", tags=["zdr"])
def revoke_zdr(s: S, who: A, org: OrgRef, body: m.ZdrNoteBody) -> OrgView:
    return s.arrangements.revoke_zdr(who, org, body.note)

@r.post("/orgs/{org}/hipaa", tags=["hipaa"])
def accept_baa(s: S, who: A, org: OrgRef, body: m.BaaAccept) -> OrgView:
    return s.arrangements.accept_baa(who, org, body.version)

@r.delete("/orgs/{org}/hipaa", tags=["hipaa"])
def disable_hipaa(s: S, who: A, org: OrgRef) -> OrgView:
    """Always refused: HIPAA stays on once a BAA is accepted (409)."""
    return s.arrangements.disable_hipaa(who, org)

@r.put("/orgs/{org}/retention", tags=["retention"])
def set_retention(s: S, who: A, org: OrgRef, body: m.RetentionSet) -> OrgView:
    return s.arrangements.set_retention(who, org, body.days,
                                        confirm_shorten=body.confirm_shorten)

# -- workspaces and keys ------------------------------------------------------------------
@r.get("/orgs/{org}/workspaces", tags=["workspaces"])
def list_workspaces(s: S, who: A, org: OrgRef) -> list[WorkspaceView]:
    return s.workspaces.list(who, org)

@r.post("/orgs/{org}/workspaces", status_code=201, tags=["workspaces"])
def create_workspace(s: S, who: A, org: OrgRef, body: m.WorkspaceCreate) -> WorkspaceView:
    return s.workspaces.create(who, org, body.name, body.retention_override_days)

@r.put("/orgs/{org}/workspaces/{workspace}/retention", tags=["workspaces"])
def set_workspace_retention(
    s: S, who: A, org: OrgRef, workspace: str, body: m.WorkspaceRetention
) -> WorkspaceView:
    return s.workspaces.set_retention(who, org, workspace, body.retention_override_days)

@r.get("/orgs/{org}/keys", tags=["keys"])
def list_keys(s: S, who: A, org: OrgRef) -> list[KeyView]:
    return s.keys.list(who, org)

@r.post("/orgs/{org}/keys", status_code=201, tags=["keys"])
def create_key(s: S, who: A, org: OrgRef, body: m.KeyCreate) -> NewSecretView:
    """The secret is in this response only; it is stored as a hash."""
    return s.keys.create(who, org, body.workspace, body.kind, body.name)

@r.post("/keys/{prefix}/revoke", tags=["keys"])
def revoke_key(s: S, who: A, prefix: str) -> KeyView:
    return s.keys.revoke(who, prefix)

# -- holds, flagged content, audit --------------------------------------------------------
@r.get("/holds", tags=["holds"])
def list_holds(
    s: S, who: A, org: OrgQuery = None, org_id: OrgIdQuery = None, org_name: OrgNameQuery = None,
    include_released: bool = False,
) -> list[Hold]:
    return s.holds.list(who, org_query(org, org_id, org_name), include_released)

@r.post("/holds", status_code=201, tags=["holds"])
def place_hold(s: S, who: A, body: m.HoldPlace) -> Hold:
    return s.holds.place(who, body.org, body.reason, body.scope, body.workspace,
                         body.exchange_id)

@r.post("/holds/{hold_id}/release", tags=["holds"])
def release_hold(s: S, who: A, hold_id: str) -> Hold:
    return s.holds.release(who, hold_id)

@r.get("/orgs/{org}/flagged", tags=["flagged"])
def list_flagged(s: S, who: A, org: OrgRef) -> list[FlaggedView]:
    return s.flagged.list(who, org)

@r.get("/flagged/{record_id}", tags=["flagged"])
def read_flagged(
    s: S, who: A, record_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> FlaggedContent:
    """Trust & safety only; this read is recorded in the audit log."""
    return s.flagged.read(who, record_id)

@r.get("/audit", tags=["audit"])
def list_audit(
    s: S, who: A, org: OrgQuery = None, org_id: OrgIdQuery = None, org_name: OrgNameQuery = None,
    after_seq: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntry]:
    return s.audit.list(who, org_query(org, org_id, org_name), after_seq, limit)

@r.get("/audit/verify", tags=["audit"])
def verify_audit(
    s: S, who: A, expect_head: Annotated[str | None, Query(max_length=84)] = None
) -> ChainReport:
    return s.audit.verify(who, expect_head)

# -- evidence: signed statements and erasure receipts -------------------------------------
SIGNED = {"content": {"application/json": {}},
          "description": "the signed document, byte for byte (check it with `zdr attest verify`)"}


@r.post("/orgs/{org}/attestations", tags=["evidence"], response_class=Response,
        responses={200: SIGNED})
def issue_statement(s: S, who: A, org: OrgRef, body: m.StatementCreate) -> Response:
    """Sign a statement of what was kept of the org's traffic in [since, until)."""
    issued = s.evidence.issue_statement(who, org, body.since, body.until)
    return Response(issued.document, media_type="application/json")

@r.get("/orgs/{org}/attestations", tags=["evidence"])
def list_documents(
    s: S, who: A, org: OrgRef, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[m.LoggedDocument]:
    return [m.LoggedDocument(**e.summary()) for e in s.evidence.log(who, org, limit)]

@r.get("/attestations/{seq}", tags=["evidence"], response_class=Response,
       responses={200: SIGNED})
def get_document(s: S, who: A, seq: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    entry = s.evidence.document(who, seq)
    return Response(entry.document.encode("utf-8"), media_type="application/json")

@r.post("/orgs/{org}/end-users/erase", tags=["evidence"], response_class=Response,
        responses={200: SIGNED})
def erase_end_user(s: S, who: A, org: OrgRef, body: m.EndUserErase) -> Response:
    """Delete one end user's content and feature artifacts; the signed erasure receipt."""
    issued = s.evidence.erase_end_user(who, org, body.end_user)
    return Response(issued.document, media_type="application/json")

# -- accounts -----------------------------------------------------------------------------
@r.post("/users", status_code=201, tags=["accounts"])
def create_user(s: S, who: A, body: m.UserCreate) -> UserView:
    return s.accounts.create_user(who, body.email, body.password, body.provider_roles,
                                  body.org_roles)

@r.post("/users/{email}/memberships", tags=["accounts"])
def grant(s: S, who: A, email: Email, body: m.MembershipGrant) -> MemberView:
    """As `POST /orgs/{org}/members`: the same answer whether or not the email has an account."""
    return s.accounts.grant(who, email, body.org, body.role)

@r.put("/users/{email}/password", status_code=204, tags=["accounts"])
def set_password(s: S, who: A, email: Email, body: m.PasswordSet) -> None:
    """Your own password (with `current_password`), or anyone's as a provider admin. Ends every
    console session of the user."""
    s.accounts.set_password(who, email, body.password, body.current_password)

@r.post("/users/{email}/disable", status_code=204, tags=["accounts"])
def disable_user(s: S, who: A, email: Email) -> None:
    """No more sign-in or admin token for this user; their console sessions end at once."""
    s.accounts.disable_user(who, email)

@r.get("/orgs/{org}/members", tags=["accounts"])
def list_members(s: S, who: A, org: OrgRef) -> list[MemberView]:
    """The organization's people and their roles in it (no provider staff, nothing else)."""
    return s.accounts.members(who, org)

@r.post("/orgs/{org}/members", tags=["accounts"])
def add_member(s: S, who: A, org: OrgRef, body: m.MemberAdd) -> MemberView:
    """Give someone a role in the org by email. The answer is the same whether or not the email
    has an account (one without a password is made if not); provider staff cannot be added."""
    return s.accounts.add_member(who, org, body.email, body.role)

@r.get("/users", tags=["accounts"])
def list_users(s: S, who: A) -> list[UserView]:
    return s.accounts.list_users(who)


@r.post("/tokens/{prefix}/revoke", tags=["accounts"])
def revoke_token(s: S, who: A, prefix: Annotated[str, Path(max_length=40)]) -> NewSecretView:
    """Revoke an admin token (yours, or anyone's as a provider admin). `secret` is empty."""
    return s.accounts.revoke_token(who, prefix)


@r.post("/tokens", status_code=201, tags=["accounts"])
def create_token(s: S, who: A, body: m.TokenCreate) -> NewSecretView:
    """The token is in this response only; it is stored as a hash. It expires after
    `expires_in_days` (default 90); an expired token gets 401."""
    return s.accounts.create_token(who, body.email, timedelta(days=body.expires_in_days))



__all__ = ["PREFIX", "ServicesFactory", "build_admin_app"]
