//! The errors a source reader reports. Each names the stream/shard, queue or object it concerns.

/// What went wrong reading an AWS source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A Kinesis call failed with an error that retrying the same call will not fix.
    #[error("kinesis stream {stream}{}: {operation} failed: {message}", shard_suffix(.shard))]
    Kinesis {
        stream: String,
        shard: Option<String>,
        operation: &'static str,
        message: String,
    },
    /// An SQS call failed.
    #[error("sqs queue {queue}: {operation} failed: {message}")]
    Sqs {
        queue: String,
        operation: &'static str,
        message: String,
    },
    /// The object (or its bucket) announced by a notification does not exist (deleted since, or
    /// never readable by us). Retrying cannot help: the caller dead-letters the notice and acks it.
    #[error("s3://{bucket}/{key}: the object does not exist")]
    ObjectMissing { bucket: String, key: String },
    /// Reading the object failed (network, access, corrupt gzip...).
    #[error("s3://{bucket}/{key}: {message}")]
    Object {
        bucket: String,
        key: String,
        message: String,
    },
    /// The object is one multi-line JSON document (not JSON lines) bigger than the configured limit.
    #[error(
        "s3://{bucket}/{key}: a single JSON document spanning several lines is read whole, and this one exceeds the {limit}-byte limit (split it into JSON lines, or raise max_document_bytes)"
    )]
    DocumentTooLarge {
        bucket: String,
        key: String,
        limit: usize,
    },
    /// A gzip object inflated past its size or ratio limit: a decompression bomb, or an object
    /// bigger than the node is configured to take.
    #[error("s3://{bucket}/{key}: {reason}")]
    DecompressionLimit {
        bucket: String,
        key: String,
        reason: String,
    },
    /// One line of a line-oriented object exceeds the configured limit.
    #[error("s3://{bucket}/{key} line {line}: longer than the {limit}-byte line limit")]
    LineTooLong {
        bucket: String,
        key: String,
        line: u64,
        limit: usize,
    },
}

fn shard_suffix(shard: &Option<String>) -> String {
    shard
        .as_deref()
        .map(|s| format!(" shard {s}"))
        .unwrap_or_default()
}
