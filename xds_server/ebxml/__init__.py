"""ebRIM 3.0 / ebRS 3.0 wire format ⇄ model objects (symbolic ids, slots, classifications)."""
