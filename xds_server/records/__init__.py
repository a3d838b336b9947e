"""The records actor: patients' records, their status, oppositions and authorisations."""
