//! Alert outputs: StreamAlert's catalogue (docs/spec §12) plus a signed webhook, Opsgenie,
//! file and stdout. The dispatcher calls [`Outputs::deliver`] once per attempt and owns
//! retries; this crate makes exactly one attempt and says whether to retry
//! ([`DeliveryOutcome`]). Credentials are stored encrypted with the cluster's [`DataKey`] or a [`SecretsCipher`].

mod aws_error;
mod config;
mod data_key;
mod delivery;
mod error_chain;
mod format;
mod http;
mod outputs;
mod secrets;
mod service;
mod services;

pub use config::{OutputsConfig, OutputsConfigError};
pub use data_key::DataKey;
pub use delivery::{Delivery, DeliveryOutcome};
pub use http::without_response_body;
pub use outputs::Outputs;
pub use sa_rules::{OutputName, OutputNameError};
pub use secrets::{SealedWith, SecretsCipher, SecretsError, sealed_with};
pub use service::{
    InvalidSettings, KNOWN_SERVICES, Property, RESOURCE_SETTING, ResourceShape,
    credential_problems, credential_properties, credentials_with_defaults, is_known_service,
    resource_shape, validate_settings,
};
pub use services::webhook::sign as webhook_signature;
