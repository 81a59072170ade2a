"""What the agent's workspace and the supervisor's view are made of, handed to the web
layer as one: the access policy, contact cards, notes, templates, history, reports and
the live view."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.services.access import AccessPolicy
from gateway.services.contact_card import ContactCards
from gateway.services.history import History
from gateway.services.live import LiveView
from gateway.services.notes import Notes
from gateway.services.reports import Reports


@dataclass(frozen=True)
class Workspace:
    access: AccessPolicy
    cards: ContactCards
    notes: Notes
    history: History
    reports: Reports
    live: LiveView
