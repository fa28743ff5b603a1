//! An error with its causes in one line, for the reasons of delivery outcomes and KMS failures.

/// `error: cause: cause's cause …`: SDK and reqwest errors say what failed at the top and why
/// (DNS, TLS, a reset) only in their sources.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
