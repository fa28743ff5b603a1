//! StreamAlert test events (docs/spec §15.1–§15.4): finding the files, reading them, turning
//! an event into the payload a source would deliver, and classifying it.
//!
//! The rules test runner reuses this: [`load`] to discover and read event files,
//! [`prepare`] to build an event's payload, [`classify_event`] for its classified records.
//!
//! ```no_run
//! use sa_engine::{Classifier, Config, test_events};
//! let classifier = Classifier::new(Config::load_dir("conf".as_ref()).unwrap());
//! for file in test_events::load(&["rules".into()], &[]).unwrap() {
//!     for event in file.events.iter().flatten() {
//!         let prepared = test_events::prepare(&event.value, classifier.config(), test_events::now());
//!         let result = test_events::run_event(&classifier, prepared);
//!         println!("{}#{}: passed={}", file.path.display(), event.index, result.passed());
//!     }
//! }
//! ```

mod discover;
mod prepare;
mod run;

pub use discover::{
    EventFileError, TestEvent, TestEventFile, TestFilesError, discover, load, load_file,
};
pub use prepare::{EventError, EventSpec, PreparedEvent, SERVICES, apply_helpers, now, prepare};
pub use run::{ClassifiedEvent, EventFailure, EventResult, classify_event, run_event};
