"""Matchers for osquery differential results."""


def added_only(record):
    """Rows that appeared since the last run; 'removed' rows describe state that went away."""
    return record.get('action') == 'added'
