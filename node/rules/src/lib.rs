//! Alert-as-code: user rules run in one embedded CPython interpreter per node (compat spec §9).

mod interpreter;

pub use interpreter::{InterpreterInfo, interpreter_info};
