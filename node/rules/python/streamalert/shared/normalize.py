"""streamalert.shared.normalize: reading the normalization sa's classifier attached (docs/spec §7.5)."""
import itertools

CONST_FUNCTION = 'function'
CONST_PATH = 'path'
CONST_CONDITION = 'condition'
CONST_VALUES = 'values'
CONST_ARTIFACTS_FLAG = 'send_to_artifacts'


class Normalizer:
    """Normalization itself runs in sa's classifier; rules only read its results."""

    NORMALIZATION_KEY = 'streamalert_normalization'
    RECORD_ID_KEY = 'streamalert_record_id'

    @classmethod
    def get_values_for_normalized_type(cls, record, datatype):
        """Every value of `datatype` across all its entries, as a set (empty when absent)."""
        results = (record.get(cls.NORMALIZATION_KEY) or {}).get(datatype)
        if not results:
            return set()
        return set(itertools.chain.from_iterable(entry.get(CONST_VALUES) or [] for entry in results))
