"""The document repository actor: provide, retrieve, remove (ITI-41, ITI-43, ITI-86)."""
