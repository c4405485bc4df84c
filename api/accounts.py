"""Sign-in, API keys, and the admin routes of a data directory's owner.

- ``POST /v1/auth/challenge`` issues an EIP-4361 message for an address to sign with the scopes
  it asks for; ``POST /v1/auth/login`` turns the signed message into a new HMAC key (its secret is
  shown this once). ``GET /v1/keys`` lists the account's keys; ``DELETE /v1/keys/{key_id}`` revokes
  one. These are not on the hot path, so their bodies are pydantic models.
- ``/v1/admin/...`` (kept out of the OpenAPI document) serve ``bluebook accounts`` while a server
  runs: create a key for an address, and, in development mode only, credit a balance with a
  journaled ``Deposit`` under a unique ref.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import admin, public, signed
from api.context import Services
from api.credentials import Scope
from api.errors import ApiError, ErrorCode, reject_code
from api.keys import IssuedKey, KeyInfo
from api.wire import JsonResponse, Units
from matcher.commands import Deposit
from matcher.events import REJECTED

KeyId = Annotated[str, Path(min_length=1, max_length=64)]


class ChallengeRequest(BaseModel):
    address: str = Field(max_length=42, examples=["0x0000000000000000000000000000000000000001"])
    scopes: list[str] = Field(default=["read"], max_length=3)


class LoginRequest(BaseModel):
    message: str = Field(max_length=4096)
    signature: str = Field(max_length=200)
    label: str = Field(default="", max_length=64)
    ip_allowlist: str = Field(default="", max_length=512)


class AdminKeyRequest(BaseModel):
    address: str = Field(max_length=42)
    scopes: list[str] = Field(default=["read"], max_length=3)
    label: str = Field(default="", max_length=64)


class CreditRequest(BaseModel):
    address: str = Field(max_length=42)
    asset: str = Field(max_length=32)
    amount: str = Field(max_length=40)


def key_view(info: KeyInfo) -> dict[str, Any]:
    return {"key_id": info.key_id, "kind": info.kind, "label": info.label,
            "scopes": sorted(scope.value for scope in info.scopes), "ip_allowlist": list(info.ip_allowlist),
            "created_at": info.created_at_ns // 1_000_000,
            "revoked_at": None if info.revoked_at_ns is None else info.revoked_at_ns // 1_000_000,
            }  # fmt: skip


def issued_view(issued: IssuedKey) -> dict[str, Any]:
    """The new key as its owner sees it once: ``api_key`` and ``secret`` first."""
    return {"api_key": issued.key.key_id, "secret": issued.secret, "account_id": issued.key.account_id,
            "scopes": sorted(scope.value for scope in issued.key.scopes)}  # fmt: skip


def routes(services: Services) -> APIRouter:
    router = APIRouter(prefix="/v1", default_response_class=JsonResponse)

    @router.post("/auth/challenge", tags=["account"],
                 dependencies=[Depends(public(services, "POST /v1/auth/challenge"))])  # fmt: skip
    async def challenge(request: ChallengeRequest) -> dict[str, Any]:
        """A sign-in message for ``address`` to sign (``personal_sign``), valid for 5 minutes."""
        issued = await run_in_threadpool(services.login.challenge, request.address, request.scopes)
        return {"message": issued.message.text(), "nonce": issued.nonce,
                "expires_at": issued.expires_at_ns // 1_000_000}  # fmt: skip

    @router.post(
        "/auth/login", tags=["account"], dependencies=[Depends(public(services, "POST /v1/auth/login"))]
    )
    async def login(request: LoginRequest) -> dict[str, Any]:
        """A new HMAC key with the scopes the signed message names; the secret is shown once."""
        issued = await run_in_threadpool(
            services.login.login, request.message, request.signature,
            label=request.label, ip_allowlist=request.ip_allowlist,
        )  # fmt: skip
        return issued_view(issued)

    reader = signed(services, Scope.READ, "GET /v1/keys")
    revoker = signed(services, Scope.READ, "DELETE /v1/keys/{key_id}")

    @router.get("/keys", tags=["account"])
    async def list_keys(request: Request) -> dict[str, Any]:
        """Every key of the account, revoked ones included (never their secrets)."""
        key = await reader(request)
        infos = await run_in_threadpool(services.keys.list_keys, key.account_id)
        return {"keys": [key_view(info) for info in infos]}

    @router.delete("/keys/{key_id}", tags=["account"])
    async def revoke_key(key_id: KeyId, request: Request) -> dict[str, Any]:
        """Revoke one of the account's keys (the signing key itself included)."""
        key = await revoker(request)
        info = await run_in_threadpool(services.keys.revoke, key.account_id, key_id)
        return {"key": key_view(info)}

    guarded = [Depends(admin(services))]

    @router.post("/admin/keys", include_in_schema=False, dependencies=guarded)
    async def admin_create_key(request: AdminKeyRequest) -> dict[str, Any]:
        issued = await run_in_threadpool(
            services.keys.create_hmac_key, request.address, request.scopes, label=request.label
        )
        return issued_view(issued)

    @router.post("/admin/credit", include_in_schema=False, dependencies=guarded)
    async def admin_credit(request: CreditRequest) -> dict[str, Any]:
        if not services.dev:
            raise ApiError(ErrorCode.CREDIT_NOT_ALLOWED)
        asset = services.units.asset(request.asset)
        amount = services.units.amount(asset, request.amount)
        account = await run_in_threadpool(services.keys.account_id, request.address)
        return credit_outcome(
            services.units, await services.execute([credit_command(account, asset.name, amount)])
        )

    return router


def credit_command(account: int, asset: str, amount: int) -> tuple[Any, ...]:
    """A development credit: a ``Deposit`` whose ref is unique, so it applies exactly once."""
    return tuple(
        Deposit.of(account=account, asset=asset, amount=amount, ref=f"dev-credit:{uuid.uuid4().hex}")
    )


def credit_outcome(units: Units, acks: list[tuple[Any, Any]]) -> dict[str, Any]:
    """The credit's seq, account, asset, amount (a decimal string) and ref; or its reject."""
    [(stamped, events)] = acks
    rejected = [event for event in events if event[0] == REJECTED] if not isinstance(events, str) else []
    if stamped is None or rejected:
        raise ApiError(reject_code(rejected[0][5]) if rejected else ErrorCode.INVALID_AMOUNT)
    _, seq, _, account, asset, amount, ref = stamped
    return {
        "seq": seq,
        "account_id": account,
        "asset": asset,
        "amount": units.amount_text(asset, amount),
        "ref": ref,
    }
