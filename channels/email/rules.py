"""The email channel's rules, without I/O: which conversation an email continues, and
whether it gets the touchpoint's auto-reply."""

from __future__ import annotations

from typing import Literal

import msgspec

from channels.email.mime import ParsedEmail

# Local parts that are machines, never people (RFC 3834 section 2 and common practice).
_MACHINE_SENDERS = frozenset(
    {"mailer-daemon", "postmaster", "noreply", "no-reply", "do-not-reply", "donotreply"}
)


def thread_refs(email: ParsedEmail) -> list[str]:
    """The Message-IDs an email answers, nearest first: In-Reply-To, then References
    from the newest back."""
    refs = [email.in_reply_to] if email.in_reply_to else []
    refs += [r for r in reversed(email.references) if r not in refs]
    return refs


class AutoReplyDecision(msgspec.Struct, frozen=True):
    send: bool
    why: str


def auto_reply(email: ParsedEmail, *, enabled: bool, already_replied: bool) -> AutoReplyDecision:
    """Whether this email gets the auto-reply: once per thread, only when enabled, never
    to another machine (Auto-Submitted, Precedence bulk/list/junk, mailing lists,
    mailer-daemon and no-reply senders, bounces, Microsoft's X-Auto-Response-Suppress),
    so two auto-responders cannot loop."""
    if not enabled:
        return AutoReplyDecision(False, "auto-reply is off")
    if already_replied:
        return AutoReplyDecision(False, "this thread had its auto-reply")
    if email.auto_submitted and email.auto_submitted != "no":
        return AutoReplyDecision(False, "the email was sent automatically (Auto-Submitted)")
    if email.precedence in ("bulk", "list", "junk"):
        return AutoReplyDecision(False, f"Precedence: {email.precedence}")
    if email.list_id:
        return AutoReplyDecision(False, "the email came from a mailing list")
    if email.return_path.strip() == "<>":
        return AutoReplyDecision(False, "a bounce (empty Return-Path)")
    if any(w in email.auto_response_suppress for w in ("all", "autoreply", "oof")):
        return AutoReplyDecision(False, "the sender suppresses auto-responses")
    local = email.from_addr.split("@", 1)[0]
    if not email.from_addr or local in _MACHINE_SENDERS or local.startswith("bounce"):
        return AutoReplyDecision(False, "the sender is a machine")
    return AutoReplyDecision(True, "")


Placement = Literal["continue", "new"]


def placement(thread_state: str | None, live_states: tuple[str, ...]) -> Placement:
    """An email that answers a known conversation continues it while it is live; after
    it ended (or with no known thread) it goes where the core puts a new message from
    its sender: their open conversation on the touchpoint, or a new one."""
    return "continue" if thread_state is not None and thread_state in live_states else "new"
