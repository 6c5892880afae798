"""Lambda entry points: thin wiring of Powertools around one domain call each."""
