"""The family's voice: co-created goals, Goal-Based Outcomes ratings and visit feedback."""
