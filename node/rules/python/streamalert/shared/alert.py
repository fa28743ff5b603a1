"""streamalert.shared.alert: the Alert object publishers receive (docs/spec §10, Appendix C.3)."""
import json
import uuid
from datetime import datetime, timedelta

from streamalert.shared.utils import get_first_key


class AlertCreationError(Exception):
    """Bad constructor arguments or a malformed stored alert."""


class Alert:
    """A rule hit: the record, where it came from and where it must go."""

    _EXPECTED_INIT_KWARGS = {
        'alert_id', 'attempts', 'cluster', 'context', 'created', 'dispatched', 'log_source',
        'log_type', 'merge_by_keys', 'merge_window', 'outputs_sent', 'publishers',
        'rule_description', 'source_entity', 'source_service', 'staged',
    }
    DATETIME_FORMAT = '%Y-%m-%dT%H:%M:%S.%fZ'
    _FIREHOSE_OUTPUT = 'aws-firehose:alerts'

    def __init__(self, rule_name, record, outputs, **kwargs):
        if not set(kwargs).issubset(self._EXPECTED_INIT_KWARGS):
            raise AlertCreationError('Invalid Alert kwargs: {} is not a subset of {}'.format(
                ', '.join(sorted(kwargs)), ', '.join(sorted(self._EXPECTED_INIT_KWARGS))))
        self.alert_id = kwargs.get('alert_id') or str(uuid.uuid4())
        self.attempts = int(kwargs.get('attempts') or 0)
        self.cluster = kwargs.get('cluster') or None
        self.context = kwargs.get('context') or {}
        self.created = kwargs.get('created') or datetime.utcnow()
        self.dispatched = kwargs.get('dispatched') or datetime(year=1970, month=1, day=1)
        self.log_source = kwargs.get('log_source') or None
        self.log_type = kwargs.get('log_type') or None
        self.merge_by_keys = kwargs.get('merge_by_keys') or []
        self.merge_window = kwargs.get('merge_window') or timedelta(minutes=0)
        self.outputs = outputs
        self.outputs_sent = kwargs.get('outputs_sent') or set()
        self.publishers = kwargs.get('publishers') or {}
        self.record = record
        self.rule_description = kwargs.get('rule_description') or None
        self.rule_name = rule_name
        self.source_entity = kwargs.get('source_entity') or None
        self.source_service = kwargs.get('source_service') or None
        self.staged = kwargs.get('staged') or False

    def __lt__(self, other):
        return self.created < other.created

    def __repr__(self):
        return '<Alert {} triggered from {}>'.format(self.alert_id, self.rule_name)

    @property
    def dynamo_key(self):
        return {'RuleName': self.rule_name, 'AlertID': self.alert_id}

    @property
    def merge_enabled(self):
        return bool(self.merge_by_keys and self.merge_window)

    @property
    def remaining_outputs(self):
        if self.merge_enabled:
            return set(self.outputs).intersection({self._FIREHOSE_OUTPUT}) - set(self.outputs_sent)
        return set(self.outputs) - set(self.outputs_sent)

    def dynamo_record(self):
        """Every field with the alerts-table encodings of docs/spec §10.1."""
        return {
            'RuleName': self.rule_name,
            'AlertID': self.alert_id,
            'Attempts': self.attempts,
            'Cluster': self.cluster,
            'Context': self.context,
            'Created': self.created.strftime(self.DATETIME_FORMAT),
            'Dispatched': self.dispatched.strftime(self.DATETIME_FORMAT),
            'LogSource': self.log_source,
            'LogType': self.log_type,
            'MergeByKeys': self.merge_by_keys,
            'MergeWindowMins': int(self.merge_window.total_seconds() // 60),
            'Outputs': self.outputs,
            'OutputsSent': self.outputs_sent or None,
            'Publishers': self.publishers or None,
            'Record': json.dumps(self.record, separators=(',', ':'), default=list),
            'RuleDescription': self.rule_description,
            'SourceEntity': self.source_entity,
            'SourceService': self.source_service,
            'Staged': self.staged,
        }

    @classmethod
    def create_from_dynamo_record(cls, record):
        """The inverse of dynamo_record()."""
        try:
            return cls(
                record['RuleName'],
                json.loads(record['Record']),
                set(record['Outputs']),
                alert_id=record['AlertID'],
                attempts=record.get('Attempts', 0),
                cluster=record.get('Cluster'),
                context=record.get('Context'),
                created=datetime.strptime(record['Created'], cls.DATETIME_FORMAT),
                dispatched=datetime.strptime(record['Dispatched'], cls.DATETIME_FORMAT)
                if 'Dispatched' in record else None,
                log_source=record.get('LogSource'),
                log_type=record.get('LogType'),
                merge_by_keys=record.get('MergeByKeys'),
                merge_window=timedelta(minutes=int(record.get('MergeWindowMins', 0))),
                outputs_sent=set(record.get('OutputsSent') or []),
                publishers=record.get('Publishers'),
                rule_description=record.get('RuleDescription'),
                source_entity=record.get('SourceEntity'),
                source_service=record.get('SourceService'),
                staged=record.get('Staged'),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise AlertCreationError('Invalid alert record {}: {!r}'.format(record, error))

    def output_dict(self):
        """The DefaultPublisher's publication (docs/spec §10.2)."""
        return {
            'cluster': self.cluster or '',
            'context': self.context or {},
            'created': self.created.strftime(self.DATETIME_FORMAT),
            'id': self.alert_id,
            'log_source': self.log_source or '',
            'log_type': self.log_type or '',
            'outputs': sorted(self.outputs),
            'publishers': self.publishers or {},
            'record': self.record,
            'rule_description': self.rule_description or '',
            'rule_name': self.rule_name or '',
            'source_entity': self.source_entity or '',
            'source_service': self.source_service or '',
            'staged': self.staged,
        }

    def can_merge(self, other):
        """True when both alerts merge by the same keys with equal values inside the older window."""
        if not self.merge_enabled or not other.merge_enabled:
            return False
        older, newer = min(self, other), max(self, other)
        if newer.created > older.created + older.merge_window:
            return False
        if set(self.merge_by_keys) != set(other.merge_by_keys):
            return False
        return all(get_first_key(self.record, key) == get_first_key(other.record, key)
                   for key in self.merge_by_keys)

    @classmethod
    def _clean_record(cls, record, ignored_keys):
        result = {}
        for key, value in record.items():
            if key in ignored_keys:
                continue
            result[key] = cls._clean_record(value, ignored_keys) if isinstance(value, dict) else value
        return result

    @classmethod
    def _compute_common(cls, records):
        if not records:
            return {}
        common = {}
        for key, value in records[0].items():
            if not all(key in record for record in records[1:]):
                continue
            if all(record[key] == value for record in records[1:]):
                common[key] = value
            elif all(isinstance(record[key], dict) for record in records):
                nested = cls._compute_common([record[key] for record in records])
                if nested:
                    common[key] = nested
        return common

    @classmethod
    def _compute_diff(cls, common, record):
        diff = {}
        for key, value in record.items():
            if key not in common:
                diff[key] = value
            elif value == common[key]:
                continue
            elif isinstance(value, dict) and isinstance(common[key], dict):
                nested = cls._compute_diff(common[key], value)
                if nested:
                    diff[key] = nested
            else:
                diff[key] = value
        return diff

    @classmethod
    def merge(cls, alerts):
        """One new alert summarizing mergeable `alerts` (docs/spec §10.4)."""
        alerts = sorted(alerts)
        merge_keys = set(alerts[0].merge_by_keys)
        records = [cls._clean_record(alert.record, merge_keys) for alert in alerts]
        common = cls._compute_common(records)
        merged_record = {
            'AlertCount': len(alerts),
            'AlertTimeFirst': alerts[0].created.strftime(cls.DATETIME_FORMAT),
            'AlertTimeLast': alerts[-1].created.strftime(cls.DATETIME_FORMAT),
            'MergedBy': {key: get_first_key(alerts[0].record, key) or '(n/a)'
                         for key in alerts[0].merge_by_keys},
            'OtherCommonKeys': common,
            'ValueDiffs': {
                alert.created.strftime(cls.DATETIME_FORMAT): cls._compute_diff(common, record)
                for alert, record in zip(alerts, records)
            },
        }
        first = alerts[0]
        return cls(
            first.rule_name, merged_record, alerts[-1].outputs,
            cluster=first.cluster, context=first.context, log_source=first.log_source,
            log_type=first.log_type, publishers=first.publishers,
            rule_description=first.rule_description, source_entity=first.source_entity,
            source_service=first.source_service, staged=any(alert.staged for alert in alerts),
        )
