//! S3 objects announced through SQS: the notifications, the queue, and streaming an object as
//! chunks of payload records.

mod decompress;
mod framing;
mod notification;
mod object;
mod queue;

pub use decompress::{BodyDecoder, DecodeError, DecompressionLimits};
pub use framing::{FramedPayload, FramingError, ObjectFramer, PayloadBody};
pub use notification::{Notification, S3Object, parse_notification};
pub use object::{ObjectId, ObjectReadOptions, ObjectReader, PayloadChunk, open_object};
pub use queue::{MessageContent, MessageReceipt, QueueMessage, QueueOptions, S3QueueReader};
