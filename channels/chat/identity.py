"""Signed visitor identity ("chat user identification"), verified at the bootstrap.

A site that knows who its visitor is (a logged-in page) hands the widget the visitor's
email or phone **signed with the touchpoint's identity secret**, in one of two forms:

* ``{"email": "...", "signature": "<hex HMAC-SHA256 of the email>"}`` (or ``phone``
  instead of ``email``): the signature covers exactly the identifier as sent. A
  ``name`` beside it is not covered by the signature: it is only a display name, as
  if the visitor had typed it into the form;
* ``{"jwt": "<HS256 JWT>"}`` with claims ``email`` and/or ``phone``, optionally
  ``name``, and a required ``exp``: everything in it is signed.

Signatures are compared in constant time (``hmac.compare_digest``); JWTs are verified
by PyJWT with HS256 only. A signed value must also be well formed (email-validator,
phonenumbers: channels/chat/forms.py) before it can create or match a contact. Unsigned
identity is never trusted: a touchpoint without a secret refuses identity outright.
See docs/security.md#signed-visitor-identity.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

import jwt
import msgspec

from channels.chat.forms import FieldError, validate_fields
from gateway.auth import Identity
from gateway.errors import Forbidden, InvalidInput
from gateway.model.records import FormField, Touchpoint


class IdentityIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The ``identity`` object of the bootstrap request."""

    email: Annotated[str, msgspec.Meta(max_length=320)] = ""
    phone: Annotated[str, msgspec.Meta(max_length=64)] = ""
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    signature: Annotated[str, msgspec.Meta(max_length=128)] = ""
    jwt: Annotated[str, msgspec.Meta(max_length=4096)] = ""


_FORM = [
    FormField(name="email", label="Email", kind="email", max_length=320),
    FormField(name="phone", label="Phone", kind="phone", max_length=64),
    FormField(name="name", label="Name", kind="text", max_length=200),
]


def sign(secret: str, identifier: str) -> str:
    """The signature a site computes: hex HMAC-SHA256 of the identifier."""
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


def _invalid(message: str) -> Forbidden:
    return Forbidden(message, code="identity_invalid")


def verify_identity(tp: Touchpoint, given: IdentityIn, now: float) -> Identity:
    """The verified, normalised identity; Forbidden (identity_invalid) or InvalidInput."""
    if not tp.identity_secret:
        raise InvalidInput(
            [("identity", "this touchpoint has no identity secret, so it cannot verify one")],
            code="identity_unsupported",
        )
    if given.jwt and (given.signature or given.email or given.phone or given.name):
        raise InvalidInput(
            [("identity", "send either a jwt alone, or a signed identifier")],
            code="invalid_request",
        )
    if given.jwt:
        values = _from_jwt(tp.identity_secret, given.jwt, now)
    else:
        values = _from_signature(tp.identity_secret, given)
    try:
        clean = validate_fields(_FORM, values)
    except FieldError as exc:
        raise _invalid(f"identity: {exc.message}") from None
    return Identity(
        email=clean.get("email", ""), phone=clean.get("phone", ""), name=clean.get("name", "")
    )


def _from_signature(secret: str, given: IdentityIn) -> dict[str, str]:
    if bool(given.email) == bool(given.phone):
        raise InvalidInput(
            [("identity", "sign exactly one identifier, email or phone")], code="invalid_request"
        )
    if not given.signature:
        raise _invalid("identity: an unsigned identity is never trusted")
    identifier = given.email or given.phone
    expected = sign(secret, identifier).encode()
    # compare_digest on bytes: constant time, and no TypeError for non-ASCII input.
    if not hmac.compare_digest(expected, given.signature.strip().lower().encode()):
        raise _invalid("identity: the signature does not match")
    out = {"email": given.email} if given.email else {"phone": given.phone}
    if given.name:
        out["name"] = given.name  # a display name only, as in the form
    return out


def _from_jwt(secret: str, token: str, now: float) -> dict[str, str]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["exp"], "verify_iat": False},
        )
    except jwt.ExpiredSignatureError:
        raise _invalid("identity: the jwt has expired") from None
    except jwt.PyJWTError:
        raise _invalid("identity: the jwt is not valid") from None
    exp = claims["exp"]
    if not isinstance(exp, int | float) or exp <= now:
        raise _invalid("identity: the jwt has expired")
    out: dict[str, str] = {}
    for key in ("email", "phone", "name"):
        value = claims.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _invalid(f"identity: the jwt's {key} claim must be a string")
        if value:
            out[key] = value
    if not (out.get("email") or out.get("phone")):
        raise _invalid("identity: the jwt names no email or phone")
    return out
