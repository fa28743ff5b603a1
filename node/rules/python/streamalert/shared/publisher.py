"""streamalert.shared.publisher: publishers and their registry (docs/spec §13, Appendix C.2)."""
import copy
import inspect
from abc import abstractmethod

from streamalert.shared.logger import get_logger

LOGGER = get_logger(__name__)


class PublisherError(Exception):
    """Base class of publisher errors."""


class PublisherRegistrationError(PublisherError):
    """Registering something that is not a publisher, or a name twice."""


class PublisherAssemblyError(PublisherError):
    """A publisher chain cannot be assembled."""


class AlertPublisher:
    """Base class of class-form publishers: publish(alert, publication) -> dict."""

    @abstractmethod
    def publish(self, alert, publication):
        """Return the new publication for `alert`."""


class CompositePublisher(AlertPublisher):
    """Runs publishers in order, each on a deep copy of the previous publication."""

    def __init__(self, publishers):
        self._publishers = publishers

    def publish(self, alert, publication):
        for publisher in self._publishers:
            try:
                publication = publisher.publish(alert, copy.deepcopy(publication))
            except KeyError:
                LOGGER.exception('KeyError in publisher %s', publisher)
                raise
        return publication


class WrappedFunctionPublisher(AlertPublisher):
    """Adapts a function publisher to the class interface."""

    def __init__(self, function):
        self._function = function

    def __repr__(self):
        return '<WrappedFunctionPublisher {}>'.format(
            AlertPublisherRepository.get_publisher_name(self._function))

    def publish(self, alert, publication):
        return self._function(alert, publication)


class AlertPublisherRepository:
    """Every registered publisher, keyed by '<module>.<name>'."""

    _publishers = {}
    # sa imports the repository's publisher_locations itself when it loads a repository and
    # installs the importer here; without it (a bare interpreter) there is nothing to import.
    _importer = None
    _is_imported = False

    @staticmethod
    def is_valid_publisher(thing):
        if inspect.isclass(thing):
            return issubclass(thing, AlertPublisher)
        return callable(thing)

    @staticmethod
    def get_publisher_name(class_or_function):
        return '{}.{}'.format(class_or_function.__module__, class_or_function.__name__)

    @classmethod
    def register_publisher(cls, publisher):
        if not cls.is_valid_publisher(publisher):
            raise PublisherRegistrationError(
                'Could not register publisher {}; Not callable nor subclass of '
                'AlertPublisher'.format(publisher))
        if inspect.isclass(publisher):
            instance = publisher()
        else:
            instance = WrappedFunctionPublisher(publisher)
        name = cls.get_publisher_name(publisher)
        if name in cls._publishers:
            raise PublisherRegistrationError(
                'Publisher with name [{}] has already been registered.'.format(name))
        cls._publishers[name] = instance

    @classmethod
    def import_publishers(cls):
        if not cls._is_imported:
            cls._is_imported = True
            if cls._importer is not None:
                cls._importer()

    @classmethod
    def has_publisher(cls, publisher_name):
        cls.import_publishers()
        return publisher_name in cls._publishers

    @classmethod
    def get_publisher(cls, publisher_name):
        if cls.has_publisher(publisher_name):
            return cls._publishers[publisher_name]
        LOGGER.error('Publisher [%s] does not exist', publisher_name)
        return None

    @classmethod
    def all_publishers(cls):
        cls.import_publishers()
        return cls._publishers

    @classmethod
    def create_composite_publisher(cls, publisher_names):
        """A publisher running `publisher_names` in order; the DefaultPublisher when none exist."""
        publishers = []
        for name in publisher_names or []:
            publisher = cls.get_publisher(name)
            if publisher:
                publishers.append(publisher)
        if not publishers:
            return cls._publishers[cls.get_publisher_name(DefaultPublisher)]
        return CompositePublisher(publishers)


def Register(class_or_function):  # pylint: disable=invalid-name
    """Decorator registering a publisher; returns its argument unchanged."""
    AlertPublisherRepository.register_publisher(class_or_function)
    return class_or_function


@Register
class DefaultPublisher(AlertPublisher):
    """The publication when a rule names no publisher: alert.output_dict()."""

    def publish(self, alert, publication):
        return alert.output_dict()
