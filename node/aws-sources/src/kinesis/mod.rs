//! Kinesis: shard discovery and KCL ordering, one reader per shard (GetRecords polling, or
//! enhanced fan-out where the endpoint has it), KPL de-aggregation, and the checkpoint a
//! shard's owner stores.

mod checkpoint;
mod fan_out;
mod kpl;
mod pacing;
mod reader;
mod shards;

pub use checkpoint::{Checkpoint, compare_sequence_numbers};
pub use fan_out::{FanOutReader, batch_from_event, register_consumer};
pub use kpl::{UserRecord, aggregate, deaggregate};
pub use pacing::{Backoff, PacingConfig, ReadPacer, TokenBucket};
pub use reader::{KinesisRecord, ReaderOptions, ShardBatch, ShardReader, StartPosition};
pub use shards::{ShardInfo, discover_shards, readable_shards};
