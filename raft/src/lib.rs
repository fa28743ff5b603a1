//! sa's replicated state. It knows the shape of the state (DESIGN.md §4) but nothing about logs,
//! schemas or rules.

mod db;

pub use db::{ColumnFamily, StateDb, StateDbError};
