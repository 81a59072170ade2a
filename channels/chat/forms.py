"""The pre-conversation form: check a visitor's fields against the touchpoint's form.

Emails are checked with email-validator (syntax only: no DNS on the live path) and
phone numbers with phonenumbers (stored in E.164). A field the form does not define is
refused rather than silently kept, so nothing unexpected lands in the store.

A ``hidden`` field is filled by the embedding page (``GatewayChat.setFields``), not by
the visitor, and checked as a text field: one line, at most ``max_length``. Its value is
the page's word, which a visitor can change in the browser: fit for routing and for the
agent's context, never for access or identity (a signed ``identify`` is for that).
"""

from __future__ import annotations

import msgspec
import phonenumbers
from email_validator import EmailNotValidError, validate_email

from gateway.errors import InvalidInput
from gateway.model.records import FormField
from gateway.model.text import clean_name


class FieldError(InvalidInput):
    """A pre-conversation form field is missing or invalid."""

    code = "invalid_field"

    def __init__(self, field: str, message: str) -> None:
        super().__init__([(field, message)])
        self.field = field


LEAVE_EMAIL = FormField(name="email", label="Email", kind="email", required=True, max_length=254)


def leave_message_form(form: list[FormField]) -> list[FormField]:
    """The form for leaving a message while nobody can answer: the touchpoint's own, with
    an email required (its ``email`` field made required, or one added), since the answer
    is to reach the visitor later."""
    out = [
        msgspec.structs.replace(f, kind="email", required=True) if f.name == "email" else f
        for f in form
    ]
    if not any(f.name == "email" for f in out):
        out.append(LEAVE_EMAIL)
    return out


def first_message(message: str | None, client_msg_id: str) -> str | None:
    """The start frame's first message, checked: None when the client sent none (the
    conversation then waits for its first ``send``); refused when blank."""
    if message is None:
        return None
    if not message.strip():
        raise FieldError("message", "a message is required")
    if not client_msg_id:
        raise FieldError("client_msg_id", "a first message needs its client_msg_id")
    return message


def refuse_unknown_fields(form: list[FormField], fields: dict[str, str]) -> None:
    """FieldError naming the first field the form does not have."""
    names = {f.name for f in form}
    unknown = next((name for name in fields if name not in names), None)
    if unknown is not None:
        raise FieldError(unknown, "not a field of this form")


def validate_fields(form: list[FormField], fields: dict[str, str]) -> dict[str, str]:
    """The cleaned fields, or FieldError naming the first bad one."""
    refuse_unknown_fields(form, fields)
    clean: dict[str, str] = {}
    for f in form:
        value = clean_name(fields.get(f.name, ""))
        if not value:
            # a page that set nothing leaves a hidden field absent, never missing
            if f.required and f.kind != "hidden":
                raise FieldError(f.name, f"{f.label} is required")
            continue
        if len(value) > f.max_length:
            raise FieldError(f.name, f"at most {f.max_length} characters")
        if f.kind == "email":
            try:
                value = validate_email(value, check_deliverability=False).normalized
            except EmailNotValidError as exc:
                raise FieldError(f.name, str(exc)) from None
        elif f.kind == "phone":
            value = _phone(f.name, value)
        elif f.kind == "select" and f.options and value not in f.options:
            raise FieldError(f.name, "not one of the options")
        clean[f.name] = value
    return clean


def _phone(name: str, value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise FieldError(
            name, "enter the number with its country code, e.g. +44 20 7946 0958"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise FieldError(name, "not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
