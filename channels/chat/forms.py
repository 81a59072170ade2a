"""The pre-conversation form: check a visitor's fields against the touchpoint's form.

Emails are checked with email-validator (syntax only: no DNS on the live path) and
phone numbers with phonenumbers (stored in E.164). A field the form does not define is
refused rather than silently kept, so nothing unexpected lands in the store.
"""

from __future__ import annotations

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


def validate_fields(form: list[FormField], fields: dict[str, str]) -> dict[str, str]:
    """The cleaned fields, or FieldError naming the first bad one."""
    known = {f.name: f for f in form}
    for name in fields:
        if name not in known:
            raise FieldError(name, "not a field of this form")
    clean: dict[str, str] = {}
    for f in form:
        value = clean_name(fields.get(f.name, ""))
        if not value:
            if f.required:
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
