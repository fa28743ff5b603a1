"""streamalert.rules_engine.threat_intel: the IOC key rules read (docs/spec §9.9, Appendix C.8).

sa enriches records with matched IOCs in Rust before rules run; rules read
record['streamalert:ioc'][ioc_type], a set of matched values."""


class ThreatIntel:
    """Constants and helpers of StreamAlert's threat-intel enrichment."""

    IOC_KEY = 'streamalert:ioc'

    @classmethod
    def iocs(cls, record, ioc_type):
        """The IOC values of `ioc_type` matched in `record` (empty set when none)."""
        return set((record.get(cls.IOC_KEY) or {}).get(ioc_type) or ())
