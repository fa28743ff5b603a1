//! sa-rules' integration tests, one binary: the rules engine and its thread, the `streamalert.*`
//! shims, the test runner (`sactl test rules`), `bench rules` and the user's Python environment.

mod common;

mod bench;
mod command;
mod engine;
mod python_env;
mod shims;
mod test_runner;
