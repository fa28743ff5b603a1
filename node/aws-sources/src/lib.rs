//! Readers of sa's AWS sources, and the pure algorithms around them; the node wires them into
//! actors, the pipeline and the replicated state.
//!
//! - [`kinesis`]: shard discovery and KCL ordering ([`kinesis::readable_shards`]), a rate-limited
//!   reader per shard ([`kinesis::ShardReader`]) that de-aggregates KPL records, and the
//!   [`kinesis::Checkpoint`] a shard's owner stores.
//! - [`leases`]: which live node reads which shard ([`leases::plan_leases`]).
//! - [`s3`]: S3 event notifications from SQS ([`s3::S3QueueReader`]) and streaming an object as
//!   chunks of payload records ([`s3::open_object`]).
//!
//! Every AWS client comes from an `sa_aws::AwsTarget`, so the same code runs against AWS or
//! an AWS-compatible endpoint.

#[cfg(feature = "readers")]
mod clients;
#[cfg(feature = "readers")]
mod error;
pub mod kinesis;
pub mod leases;
#[cfg(feature = "readers")]
pub mod s3;

#[cfg(feature = "readers")]
pub use clients::SourceClients;
#[cfg(feature = "readers")]
pub use error::SourceError;

#[cfg(all(test, feature = "readers"))]
mod tests {
    use super::kinesis::{FanOutReader, ShardReader};
    use super::s3::{ObjectReader, S3QueueReader};

    fn sendable<T: Send + 'static>() {}
    fn sendable_future<F: std::future::Future + Send>(_: F) {}

    /// Actors run readers on any runtime thread: readers and their futures must be `Send`.
    #[test]
    fn readers_and_their_futures_can_move_between_threads() {
        sendable::<ShardReader>();
        sendable::<FanOutReader>();
        sendable::<ObjectReader>();
        sendable::<S3QueueReader>();
        // type-checked only: building real readers needs an endpoint
        let _ = |r: &mut ShardReader| sendable_future(r.next_batch());
        let _ = |r: &mut FanOutReader| sendable_future(r.next_batch());
        let _ = |r: &mut ObjectReader| sendable_future(r.next_chunk());
        let _ = |r: &S3QueueReader| sendable_future(r.receive());
    }
}
