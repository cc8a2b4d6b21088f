"""Model lifecycle: promotion decisions, packaging for serving, lineage and passports."""
