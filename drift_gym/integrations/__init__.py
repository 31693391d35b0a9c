"""Integrations with training frameworks (imported on demand, never by ``drift_gym``)."""
