"""The client side: talk to any XDS.b registry or repository (request builders, MTOM, replies)."""
