"""What Meta's two messaging platforms share (WhatsApp Cloud API, Messenger Platform):
the webhook subscription handshake, the ``X-Hub-Signature-256`` check, the Graph API's
errors, and the settings both keep per touchpoint."""
