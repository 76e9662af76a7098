"""E-mail plumbing for the built-in handlers: settings, message building, transport, templates.

Nothing here registers a task type; `taskqueue_server.handlers.email` does.
"""
