"""DMP management services (patient records, authorisations) as typed spyne services."""
