"""CDS Client authentication: the signed JWT of https://cds-hooks.hl7.org/2.0/#trusting-cds-clients.

Checks, in order: an asymmetric `alg` (no `none`, no HMAC), `kid`, `typ`; `iss` on the allowlist (TOH_CDS_ISSUERS);
the signature with that issuer's key for `kid`: a pinned key (an inline JWKS: whatever `jku` the token names is never
fetched, and the CDS Hooks Sandbox always names one) or one fetched from its JWKS URL or from a `jku` on its list
(cached; fetched again for an unknown `kid`, key rotation, but one fetch at a time and at most once a minute); `aud`
equal to the URL that was called; `exp`, `iat` and `jti` present, numbers where they are times, with a small leeway
and at most an hour of lifetime; `jti` never seen before (kept in Redis until the token expires). Any failure raises
Unauthorized, which the API answers with a bare 401.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import orjson
import redis.asyncio as aioredis
import structlog
from jwt import PyJWK
from redis.exceptions import RedisError

from service.core.errors import ProblemError, Unauthorized
from service.core.http_client import read_capped
from service.pipeline.store import jti_key
from service.settings import IssuerConfig

__all__ = ["ALGORITHMS", "Claims", "JwtVerifier", "refuse_replay"]

ALGORITHMS = ("ES384", "RS384", "ES256", "RS256", "ES512", "RS512", "PS256", "PS384", "PS512")
MAX_LIFETIME_SECONDS = 3600
MAX_JWKS_BYTES = 1_000_000
log = structlog.get_logger("toh.cds.auth")


@dataclass(frozen=True)
class Claims:
    issuer: str
    jti: str
    fhir_servers: tuple[str, ...] = ()  # where this issuer may be answered from precomputed cards
    replay_seconds: int = 1  # how long the jti must be remembered: until the token expires, with the leeway

    @property
    def replay_key(self) -> str:
        return jti_key(self.issuer, self.jti)


def refuse_replay(first_use: bool) -> None:
    """After the SET NX of `Claims.replay_key`: a jti seen before is a replay."""
    if not first_use:
        log.info("cds.auth_refused", reason="jti replayed")
        raise Unauthorized("jti replayed")


def _unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims, unverified: only to choose the issuer's key and algorithm, which `jwt.decode` then
    verifies the whole token with (its issuer check included). A plain base64url and orjson read: PyJWT's own
    unverified parse cost as much as the verified one (bench/profile_hook.py)."""
    try:
        header_part, payload_part, _ = token.split(".")
        header = orjson.loads(base64.urlsafe_b64decode(header_part + "=" * (-len(header_part) % 4)))
        payload = orjson.loads(base64.urlsafe_b64decode(payload_part + "=" * (-len(payload_part) % 4)))
    except (ValueError, binascii.Error):  # orjson.JSONDecodeError is a ValueError
        raise Unauthorized("malformed token") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise Unauthorized("malformed token")
    return header, payload


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class JwtVerifier:
    def __init__(
        self,
        issuers: dict[str, IssuerConfig],
        jwks_http: httpx.AsyncClient,
        redis: aioredis.Redis,
        *,
        leeway: int = 30,
        jwks_cache_seconds: int = 300,
        jwks_min_refresh_seconds: float = 60.0,
    ) -> None:
        self.issuers = issuers
        self.jwks_http = jwks_http  # its own client: a hook burst that fills the FHIR pool must not starve it
        self.redis = redis
        self.leeway = leeway
        self.cache_seconds = jwks_cache_seconds
        self.min_refresh_seconds = jwks_min_refresh_seconds
        self._pinned_keys: dict[str, dict[str, dict[str, Any]]] = {}  # by issuer, then kid
        self._fetched_keys: dict[str, _Keys] = {}  # by JWKS URL
        self._attempted: dict[str, float] = {}  # JWKS URL -> time.monotonic() of the last fetch
        self._locks: dict[str, asyncio.Lock] = {}
        self._built: dict[tuple[str, str, str], tuple[dict[str, Any], PyJWK]] = {}  # parsed keys, by iss/kid/alg

    async def verify(self, authorization: str | None, audience: str) -> Claims:
        """Everything, the replay check included."""
        claims = await self.check(authorization, audience)
        await self._first_use(claims)
        return claims

    async def check(self, authorization: str | None, audience: str) -> Claims:
        """Everything but the replay check, which the caller must then make: the hooks make it in the same Redis
        round trip as their first read (service/cds/hooks.py), with `Claims.replay_key` and `refuse_replay`."""
        try:
            return await self._verify(authorization, audience)
        except Unauthorized as exc:
            log.info("cds.auth_refused", reason=str(exc))  # the reason only: never the token
            raise

    async def _verify(self, authorization: str | None, audience: str) -> Claims:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("no bearer token")
        header, unverified = _unverified_parts(token)
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALGORITHMS:
            raise Unauthorized(f"algorithm {algorithm!r} refused")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("no kid")
        if header.get("typ", "JWT") != "JWT":
            raise Unauthorized("typ is not JWT")
        issuer = unverified.get("iss")
        config = self.issuers.get(issuer) if isinstance(issuer, str) else None
        if config is None or not isinstance(issuer, str):
            raise Unauthorized("issuer not trusted")
        jku = header.get("jku")
        if jku is not None and not isinstance(jku, str):
            raise Unauthorized("jku is not a URL")
        key = await self._key(issuer, config, kid, algorithm, jku)
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer,
                leeway=self.leeway,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(type(exc).__name__) from None
        if not all(_is_number(claims.get(name)) for name in ("exp", "iat")) or not _is_number(claims.get("nbf", 0)):
            raise Unauthorized("exp, iat or nbf is not a number")  # PyJWT takes "1700000000" too
        now = time.time()
        if claims["exp"] - now > MAX_LIFETIME_SECONDS + self.leeway:
            raise Unauthorized("token lives longer than an hour")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise Unauthorized("jti is not a string")
        return Claims(issuer, jti, tuple(config.fhir_servers), max(int(claims["exp"] - now) + self.leeway, 1))

    async def _first_use(self, claims: Claims) -> None:
        try:
            first = await self.redis.set(claims.replay_key, "1", nx=True, ex=claims.replay_seconds)
        except RedisError:
            raise ProblemError(503, "Cannot check token replay: Redis is unavailable") from None
        refuse_replay(bool(first))

    async def _key(self, issuer: str, config: IssuerConfig, kid: str, algorithm: str, jku: str | None) -> PyJWK:
        """The verification key, parsed once per JWK (parsing costs as much as a third of a verification)."""
        jwk = self._pinned(issuer, config, kid) if config.jwks is not None else await self._fetched(config, kid, jku)
        built = self._built.get((issuer, kid, algorithm))
        if built is None or built[0] is not jwk:
            built = (jwk, _key_for(jwk, algorithm))
            self._built[(issuer, kid, algorithm)] = built
        return built[1]

    def _pinned(self, issuer: str, config: IssuerConfig, kid: str) -> dict[str, Any]:
        """Keys configured inline: nothing is ever fetched, whatever `jku` a token names."""
        keys = self._pinned_keys.get(issuer)
        if keys is None:
            keys = self._pinned_keys[issuer] = _keys_of(config.jwks)
        if kid not in keys:
            raise Unauthorized("unknown kid")
        return keys[kid]

    async def _fetched(self, config: IssuerConfig, kid: str, jku: str | None) -> dict[str, Any]:
        """Keys from the issuer's JWKS URL (or an allowlisted `jku`), cached. A forged token cannot make us fetch
        at will: one fetch per URL at a time (single flight), at most one per `min_refresh` seconds after the
        first, and a failed fetch keeps the last good keys."""
        if jku is not None and not config.may_name(jku):
            raise Unauthorized("jku is not one of the issuer's JWKS URLs")
        url = jku or config.jwks_url
        assert url is not None
        cached = self._fetched_keys.get(url)
        if cached is not None and kid in cached.keys and time.monotonic() - cached.at < self.cache_seconds:
            return cached.keys[kid]
        if self._may_fetch(url):
            async with self._locks.setdefault(url, asyncio.Lock()):
                if self._may_fetch(url):  # nobody fetched it while we waited
                    await self._refresh(url)
        cached = self._fetched_keys.get(url)
        if cached is None:
            raise Unauthorized("issuer JWKS unavailable")
        if kid not in cached.keys:
            raise Unauthorized("unknown kid")
        return cached.keys[kid]

    def _may_fetch(self, url: str) -> bool:
        attempted = self._attempted.get(url)
        return attempted is None or time.monotonic() - attempted >= self.min_refresh_seconds

    async def _refresh(self, url: str) -> None:
        self._attempted[url] = time.monotonic()
        try:
            async with self.jwks_http.stream("GET", url, headers={"Accept": "application/json"}) as response:
                response.raise_for_status()
                body = await read_capped(response, MAX_JWKS_BYTES)  # BodyTooLarge is a ValueError
            keys = _keys_of(json.loads(body))
        except (httpx.HTTPError, ValueError, RecursionError, Unauthorized) as exc:
            log.warning("cds.jwks_fetch_failed", error=type(exc).__name__)  # the last good keys stay in use
            return
        self._fetched_keys[url] = _Keys(time.monotonic(), keys)


@dataclass(frozen=True)
class _Keys:
    at: float  # time.monotonic() of the fetch
    keys: dict[str, dict[str, Any]]  # by kid


def _keys_of(document: Any) -> dict[str, dict[str, Any]]:
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise Unauthorized("issuer JWKS unreadable")
    return {key["kid"]: key for key in keys if isinstance(key, dict) and isinstance(key.get("kid"), str)}


_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


def _key_for(jwk: dict[str, Any], algorithm: str) -> PyJWK:
    """The public key for this algorithm, refusing a key of another type or curve (and any private key)."""
    if "d" in jwk or jwk.get("alg", algorithm) != algorithm:
        raise Unauthorized("key does not fit the algorithm")
    if algorithm.startswith("ES") and (jwk.get("kty") != "EC" or jwk.get("crv") != _CURVES[algorithm]):
        raise Unauthorized("key does not fit the algorithm")
    if algorithm.startswith(("RS", "PS")) and jwk.get("kty") != "RSA":
        raise Unauthorized("key does not fit the algorithm")
    try:
        return PyJWK(jwk, algorithm=algorithm)
    except jwt.PyJWTError:
        raise Unauthorized("key unreadable") from None
