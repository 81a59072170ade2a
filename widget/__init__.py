"""The visitor's side: the embeddable loader, the chat app, bootstrap and domain matching."""
