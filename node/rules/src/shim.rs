//! The Python modules sa embeds: the `streamalert.*` shim (docs/spec Appendix C) and sa's own
//! `_sa_runtime`, served from the binary by a meta-path finder so no files need installing.

macro_rules! module {
    ($name:literal, $path:literal, $package:literal) => {
        (
            $name,
            concat!("<sa>/", $path),
            include_str!(concat!("../python/", $path)),
            $package,
        )
    };
}

/// (module name, path shown in tracebacks, source, is a package).
pub(crate) const MODULES: &[(&str, &str, &str, bool)] = &[
    module!("streamalert", "streamalert/__init__.py", true),
    module!("streamalert.shared", "streamalert/shared/__init__.py", true),
    module!(
        "streamalert.shared.alert",
        "streamalert/shared/alert.py",
        false
    ),
    module!(
        "streamalert.shared.config",
        "streamalert/shared/config.py",
        false
    ),
    module!(
        "streamalert.shared.description",
        "streamalert/shared/description.py",
        false
    ),
    module!(
        "streamalert.shared.logger",
        "streamalert/shared/logger.py",
        false
    ),
    module!(
        "streamalert.shared.normalize",
        "streamalert/shared/normalize.py",
        false
    ),
    module!(
        "streamalert.shared.publisher",
        "streamalert/shared/publisher.py",
        false
    ),
    module!(
        "streamalert.shared.rule",
        "streamalert/shared/rule.py",
        false
    ),
    module!(
        "streamalert.shared.utils",
        "streamalert/shared/utils.py",
        false
    ),
    module!(
        "streamalert.shared.lookup_tables",
        "streamalert/shared/lookup_tables/__init__.py",
        true
    ),
    module!(
        "streamalert.shared.lookup_tables.core",
        "streamalert/shared/lookup_tables/core.py",
        false
    ),
    module!(
        "streamalert.shared.lookup_tables.utils",
        "streamalert/shared/lookup_tables/utils.py",
        false
    ),
    module!(
        "streamalert.rules_engine",
        "streamalert/rules_engine/__init__.py",
        true
    ),
    module!(
        "streamalert.rules_engine.rules_engine",
        "streamalert/rules_engine/rules_engine.py",
        false
    ),
    module!(
        "streamalert.rules_engine.threat_intel",
        "streamalert/rules_engine/threat_intel.py",
        false
    ),
    module!(
        "streamalert.alert_processor",
        "streamalert/alert_processor/__init__.py",
        true
    ),
    module!(
        "streamalert.alert_processor.helpers",
        "streamalert/alert_processor/helpers.py",
        false
    ),
    module!(
        "streamalert.scheduled_queries",
        "streamalert/scheduled_queries/__init__.py",
        true
    ),
    module!(
        "streamalert.scheduled_queries.query_packs",
        "streamalert/scheduled_queries/query_packs/__init__.py",
        true
    ),
    module!(
        "streamalert.scheduled_queries.query_packs.configuration",
        "streamalert/scheduled_queries/query_packs/configuration.py",
        false
    ),
    module!("_sa_runtime", "_sa_runtime.py", false),
    module!("_sa_netaddr", "_sa_netaddr.py", false),
    module!("_sa_record_keys", "_sa_record_keys.py", false),
];

/// Installs the finder, the `cgi.escape` and `pathlib2` compatibility pieces and the log bridge.
pub(crate) const BOOTSTRAP: &str = include_str!("../python/_sa_bootstrap.py");
