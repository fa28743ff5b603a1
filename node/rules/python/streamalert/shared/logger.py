"""streamalert.shared.logger: loggers for user code, routed to sa's log."""
import logging
import os

LOCAL_LOGGER_FMT = '[%(levelname)s %(asctime)s (%(name)s:%(lineno)d)]: %(message)s'


def get_logger(name, level=None):
    """Return a logger named `name`; level from `level`, else LOGGER_LEVEL, else INFO."""
    if not level:
        level = os.environ.get('LOGGER_LEVEL', 'INFO')
    logger = logging.getLogger(name)
    try:
        logger.setLevel(level.upper() if isinstance(level, str) else level)
    except (TypeError, ValueError):
        logger.setLevel(logging.INFO)
        logger.error('Defaulting to INFO logging: invalid level %r', level)
    return logger


def set_formatter(logger, fmt=LOCAL_LOGGER_FMT):
    """Kept for API compatibility: sa formats log lines itself."""
    for handler in logger.handlers or logging.getLogger().handlers:
        handler.setFormatter(logging.Formatter(fmt))


class LogFormatter(logging.Formatter):
    """Kept for API compatibility with StreamAlert's Lambda log formatter."""
