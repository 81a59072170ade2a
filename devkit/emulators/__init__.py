"""Provider emulators: small real HTTP servers on loopback that speak the documented
parts of Twilio's Messaging API, Meta's WhatsApp Cloud API and Meta's Messenger
Platform that the gateway uses (channels/sms, channels/whatsapp, channels/messenger).

Each accepts sends and records them, answers with the provider's documented responses
and error codes, posts signed inbound webhooks and status callbacks to the gateway, and
retries a webhook the gateway did not answer with 2xx. A control API under
``/_emulator/`` plays the contacts' phones (the tests and the demo's phone page use it).
``python -m devkit.emulators`` runs all three (./scripts/serve starts it for the demo).
"""
