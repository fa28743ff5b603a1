"""streamalert.alert_processor.helpers: publication composition (docs/spec §13.3, Appendix C.10)."""
from streamalert.shared.publisher import AlertPublisherRepository


def _publisher_names_for_output(service, descriptor, publishers):
    if isinstance(publishers, str):
        return [publishers]
    if isinstance(publishers, list):
        return publishers
    if isinstance(publishers, dict):
        names = []
        for key in (service, '{}:{}'.format(service, descriptor)):
            entry = publishers.get(key)
            if entry is None:
                continue
            names.extend([entry] if isinstance(entry, str) else entry)
        return names
    return []


def compose_alert(alert, output, output_descriptor):
    """The publication `alert` gets for `output` (an object with __service__) and descriptor."""
    names = _publisher_names_for_output(output.__service__, output_descriptor, alert.publishers)
    publisher = AlertPublisherRepository.create_composite_publisher(names)
    return publisher.publish(alert, {})


def elide_string_middle(text, max_length):
    """Shorten `text` to `max_length` by replacing its middle with ' ... '."""
    if len(text) <= max_length:
        return text
    half_length = (max_length - 5) // 2
    return '{} ... {}'.format(text[:half_length], text[-half_length:])
