//! Kinesis: shard discovery and KCL ordering, one reader per shard, KPL de-aggregation, and
//! the checkpoint a shard's owner stores.

mod checkpoint;
mod kpl;
mod pacing;
mod reader;
mod shards;

pub use checkpoint::{Checkpoint, compare_sequence_numbers};
pub use kpl::{UserRecord, aggregate, deaggregate};
pub use pacing::{Backoff, PacingConfig, ReadPacer, TokenBucket};
pub use reader::{KinesisRecord, ReaderOptions, ShardBatch, ShardReader, StartPosition};
pub use shards::{ShardInfo, discover_shards, readable_shards};
