"""CDS Client authentication: the signed JWT of https://cds-hooks.hl7.org/2.0/#trusting-cds-clients.

Checks, in order: an asymmetric `alg` (no `none`, no HMAC), `kid`, `typ`; `iss` on the allowlist (TOH_CDS_ISSUERS);
a `jku`, if present, equal to the configured JWKS URL; the signature with that issuer's key for `kid` (JWKS cached,
fetched again once when a `kid` is unknown, for key rotation); `aud` equal to the URL that was called; `exp`, `iat`
and `jti` present, with a small leeway and at most an hour of lifetime; `jti` never seen before (kept in Redis until
the token expires). Any failure raises Unauthorized, which the API answers with a bare 401.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import redis.asyncio as aioredis
import structlog
from jwt import PyJWK
from redis.exceptions import RedisError

from service.errors import ProblemError, Unauthorized
from service.settings import IssuerConfig

__all__ = ["ALGORITHMS", "Claims", "JwtVerifier"]

ALGORITHMS = ("ES384", "RS384", "ES256", "RS256", "ES512", "RS512", "PS256", "PS384", "PS512")
MAX_LIFETIME_SECONDS = 3600
log = structlog.get_logger("toh.cds.auth")


@dataclass(frozen=True)
class Claims:
    issuer: str
    jti: str
    tenant: str | None


class JwtVerifier:
    def __init__(
        self,
        issuers: dict[str, IssuerConfig],
        http: httpx.AsyncClient,
        redis: aioredis.Redis,
        *,
        leeway: int = 30,
        jwks_cache_seconds: int = 300,
    ) -> None:
        self.issuers = issuers
        self.http = http
        self.redis = redis
        self.leeway = leeway
        self.cache_seconds = jwks_cache_seconds
        self._keys: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}
        self._built: dict[tuple[str, str, str], tuple[dict[str, Any], PyJWK]] = {}  # parsed keys, by iss/kid/alg

    async def verify(self, authorization: str | None, audience: str) -> Claims:
        try:
            return await self._verify(authorization, audience)
        except Unauthorized as exc:
            log.info("cds.auth_refused", reason=str(exc))  # the reason only: never the token
            raise

    async def _verify(self, authorization: str | None, audience: str) -> Claims:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("no bearer token")
        try:  # one unverified parse for the header and the issuer (parsing is a third of the cost)
            unverified_jwt = jwt.decode_complete(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unauthorized("malformed token") from None
        header, unverified = unverified_jwt["header"], unverified_jwt["payload"]
        if not isinstance(header, dict) or not isinstance(unverified, dict):
            raise Unauthorized("malformed token")
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
        if "jku" in header and header["jku"] != config.jwks_url:
            raise Unauthorized("jku is not the issuer's registered JWKS URL")
        key = await self._key(issuer, config, kid, algorithm)
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
        now = time.time()
        if claims["exp"] - now > MAX_LIFETIME_SECONDS + self.leeway:
            raise Unauthorized("token lives longer than an hour")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise Unauthorized("jti is not a string")
        await self._first_use(issuer, jti, int(claims["exp"] - now) + self.leeway)
        tenant = claims.get("tenant")
        return Claims(issuer, jti, tenant if isinstance(tenant, str) else None)

    async def _first_use(self, issuer: str, jti: str, seconds: int) -> None:
        try:
            first = await self.redis.set(f"toh:jti:{issuer}:{jti}", "1", nx=True, ex=max(seconds, 1))
        except RedisError:
            raise ProblemError(503, "Cannot check token replay: Redis is unavailable") from None
        if not first:
            raise Unauthorized("jti replayed")

    async def _key(self, issuer: str, config: IssuerConfig, kid: str, algorithm: str) -> PyJWK:
        """The verification key, parsed once per JWK (parsing costs as much as a third of a verification)."""
        jwk = await self._jwk(issuer, config, kid)
        built = self._built.get((issuer, kid, algorithm))
        if built is None or built[0] is not jwk:
            built = (jwk, _key_for(jwk, algorithm))
            self._built[(issuer, kid, algorithm)] = built
        return built[1]

    async def _jwk(self, issuer: str, config: IssuerConfig, kid: str) -> dict[str, Any]:
        cached = self._keys.get(issuer)
        fresh = cached is not None and time.monotonic() - cached[0] < self.cache_seconds
        if cached is not None and fresh and kid in cached[1]:
            return cached[1][kid]
        keys = await self._load(config)
        self._keys[issuer] = (time.monotonic(), keys)
        if kid not in keys:
            raise Unauthorized("unknown kid")
        return keys[kid]

    async def _load(self, config: IssuerConfig) -> dict[str, dict[str, Any]]:
        document: Any = config.jwks
        if config.jwks_url is not None:
            try:
                response = await self.http.get(config.jwks_url, headers={"Accept": "application/json"})
                response.raise_for_status()
                document = response.json()
            except (httpx.HTTPError, ValueError):
                raise Unauthorized("issuer JWKS unavailable") from None
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
