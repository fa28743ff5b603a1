//! `SERVICE:DESCRIPTOR`, the name rules use for an output (and sa-outputs delivers to).

use std::fmt;
use std::str::FromStr;

/// An output as rules name it: a service (`slack`) and a descriptor (`security`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutputName {
    service: String,
    descriptor: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputNameError {
    #[error("output {0:?} is not SERVICE:DESCRIPTOR (exactly one ':')")]
    Shape(String),
    #[error("output {0:?} has an empty service or descriptor")]
    Empty(String),
    #[error("output {0:?}: a descriptor cannot contain whitespace")]
    Whitespace(String),
}

impl OutputName {
    /// Parses `service:descriptor`; StreamAlert splits on ':' and needs exactly two parts, and
    /// its CLI forbids spaces in descriptors.
    pub fn parse(text: &str) -> Result<OutputName, OutputNameError> {
        let mut parts = text.split(':');
        let (Some(service), Some(descriptor), None) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(OutputNameError::Shape(text.to_string()));
        };
        OutputName::new(service, descriptor).map_err(|e| match e {
            OutputNameError::Shape(_) => OutputNameError::Shape(text.to_string()),
            OutputNameError::Empty(_) => OutputNameError::Empty(text.to_string()),
            OutputNameError::Whitespace(_) => OutputNameError::Whitespace(text.to_string()),
        })
    }

    pub fn new(service: &str, descriptor: &str) -> Result<OutputName, OutputNameError> {
        let text = format!("{service}:{descriptor}");
        if service.contains(':') || descriptor.contains(':') {
            return Err(OutputNameError::Shape(text));
        }
        if service.is_empty() || descriptor.is_empty() {
            return Err(OutputNameError::Empty(text));
        }
        if service
            .chars()
            .chain(descriptor.chars())
            .any(char::is_whitespace)
        {
            return Err(OutputNameError::Whitespace(text));
        }
        Ok(OutputName {
            service: service.to_string(),
            descriptor: descriptor.to_string(),
        })
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    pub fn descriptor(&self) -> &str {
        &self.descriptor
    }
}

impl fmt::Display for OutputName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.service, self.descriptor)
    }
}

impl FromStr for OutputName {
    type Err = OutputNameError;

    fn from_str(text: &str) -> Result<OutputName, OutputNameError> {
        OutputName::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_service_and_descriptor() {
        let name = OutputName::parse("pagerduty-v2:soc").unwrap();
        assert_eq!((name.service(), name.descriptor()), ("pagerduty-v2", "soc"));
        assert_eq!(name.to_string(), "pagerduty-v2:soc");
    }

    #[test]
    fn rejects_names_without_exactly_one_colon_or_with_blanks() {
        for bad in ["slack", "slack:a:b", ":x", "slack:", "slack:my channel", ""] {
            assert!(OutputName::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
