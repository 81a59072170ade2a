"""Channel adapters (chat first; SMS, WhatsApp, Messenger, email and the integration API follow)."""
