"""One small module per transaction: its wsa:Action pair, decode, call the actor, encode."""
