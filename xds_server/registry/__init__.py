"""The document registry actor: register, query, update, delete (ITI-42, ITI-18, ITI-57, ITI-62)."""
