//! Receives the S3 event notifications of a bucket from its SQS queue.
//!
//! A message is deleted ([`S3QueueReader::ack`]) only when the caller has committed the alerts
//! of every object it announced. Until then it stays in the queue and comes back after the
//! visibility timeout, with a higher [`QueueMessage::receive_count`]. Messages that can never
//! succeed do not come back forever: an unrecognized body, or an object that no longer exists
//! ([`SourceError::ObjectMissing`](crate::SourceError::ObjectMissing)), is dead-lettered by the
//! caller with the message body and then acked; a message failing for other reasons can be
//! dead-lettered once its receive count passes a limit (or left to the queue's redrive policy).

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageSystemAttributeName;

use super::notification::{Notification, S3Object, parse_notification};
use crate::error::SourceError;

/// How a queue is polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueOptions {
    /// Long-poll wait, 0 to 20 seconds.
    pub wait_time_seconds: i32,
    /// Messages per receive, 1 to 10.
    pub max_messages: i32,
    /// Visibility timeout for received messages; `None` keeps the queue's.
    pub visibility_timeout_seconds: Option<i32>,
}

impl Default for QueueOptions {
    fn default() -> QueueOptions {
        QueueOptions {
            wait_time_seconds: 20,
            max_messages: 10,
            visibility_timeout_seconds: None,
        }
    }
}

/// What deletes (acks) a received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageReceipt {
    pub message_id: String,
    pub receipt_handle: String,
}

/// What a received message announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageContent {
    /// Objects to read; empty when the events were not object creations (ack it at once).
    Objects(Vec<S3Object>),
    /// Not an S3 notification: dead-letter `body` with this reason, then ack.
    Unrecognized(String),
}

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub receipt: MessageReceipt,
    pub body: String,
    /// How many times SQS has handed this message out, this time included.
    pub receive_count: u32,
    pub content: MessageContent,
}

/// Long-polls one queue of S3 notifications.
pub struct S3QueueReader {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    options: QueueOptions,
}

impl S3QueueReader {
    pub fn new(
        client: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
        options: QueueOptions,
    ) -> S3QueueReader {
        S3QueueReader {
            client,
            queue_url: queue_url.into(),
            options,
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Waits up to the long-poll time for messages. S3's test events are deleted here and not
    /// returned; every other message is returned, recognized or not.
    pub async fn receive(&self) -> Result<Vec<QueueMessage>, SourceError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.options.max_messages)
            .wait_time_seconds(self.options.wait_time_seconds)
            .set_visibility_timeout(self.options.visibility_timeout_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| self.error("ReceiveMessage", DisplayErrorContext(&e).to_string()))?;
        let mut messages = Vec::new();
        for message in output.messages() {
            let receipt = MessageReceipt {
                message_id: message.message_id().unwrap_or_default().to_string(),
                receipt_handle: message.receipt_handle().unwrap_or_default().to_string(),
            };
            let body = message.body().unwrap_or_default().to_string();
            let receive_count = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let content = match parse_notification(&body) {
                Notification::TestEvent => {
                    self.ack(&receipt).await?;
                    continue;
                }
                Notification::Objects(objects) => MessageContent::Objects(objects),
                Notification::Unrecognized(reason) => MessageContent::Unrecognized(reason),
            };
            messages.push(QueueMessage {
                receipt,
                body,
                receive_count,
                content,
            });
        }
        Ok(messages)
    }

    /// Deletes a message: call only once the alerts of all its objects are committed.
    pub async fn ack(&self, receipt: &MessageReceipt) -> Result<(), SourceError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(&receipt.receipt_handle)
            .send()
            .await
            .map_err(|e| self.error("DeleteMessage", DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }

    /// Makes a message visible again after `seconds` (0: at once), for a retry sooner than the
    /// visibility timeout.
    pub async fn retry_later(
        &self,
        receipt: &MessageReceipt,
        seconds: i32,
    ) -> Result<(), SourceError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(&receipt.receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| {
                self.error(
                    "ChangeMessageVisibility",
                    DisplayErrorContext(&e).to_string(),
                )
            })?;
        Ok(())
    }

    fn error(&self, operation: &'static str, message: String) -> SourceError {
        SourceError::Sqs {
            queue: self.queue_url.clone(),
            operation,
            message,
        }
    }
}
