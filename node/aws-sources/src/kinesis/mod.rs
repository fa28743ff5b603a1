//! Kinesis: shard discovery and KCL ordering, one reader per shard (GetRecords polling, or
//! enhanced fan-out where the endpoint has it), KPL de-aggregation, and the checkpoint a
//! shard's owner stores.

mod checkpoint;
#[cfg(feature = "readers")]
mod fan_out;
#[cfg(feature = "readers")]
mod kpl;
#[cfg(feature = "readers")]
mod pacing;
#[cfg(feature = "readers")]
mod reader;
#[cfg(feature = "readers")]
mod shards;

pub use checkpoint::{Checkpoint, compare_sequence_numbers};
#[cfg(feature = "readers")]
pub use fan_out::{FanOutReader, batch_from_event, register_consumer};
#[cfg(feature = "readers")]
pub use kpl::{UserRecord, aggregate, deaggregate};
#[cfg(feature = "readers")]
pub use pacing::{Backoff, PacingConfig, ReadPacer, TokenBucket};
#[cfg(feature = "readers")]
pub use reader::{KinesisRecord, ReaderOptions, ShardBatch, ShardReader, StartPosition};
#[cfg(feature = "readers")]
pub use shards::{ShardInfo, discover_shards, readable_shards};
