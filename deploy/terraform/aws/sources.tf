# What the nodes read: Kinesis streams (created here or given) and S3 buckets through SQS
# (docs/cluster.md, "Sources on every node"). The cluster config names the same streams and
# buckets under data_sources; this module only makes them readable.

resource "aws_kinesis_stream" "source" {
  for_each         = var.kinesis_streams
  name             = each.key
  shard_count      = each.value.shard_count
  retention_period = each.value.retention_hours
  encryption_type  = "KMS"
  # The AWS managed key: its key policy lets the account's principals use it through Kinesis,
  # so the nodes need no kms grant for it.
  kms_key_id = "alias/aws/kinesis"

  stream_mode_details {
    stream_mode = each.value.shard_count == null ? "ON_DEMAND" : "PROVISIONED"
  }

  tags = local.tags
}

# One queue per bucket: the bucket's object-created events, long-polled by every node (SQS hands
# each message to one of them).
resource "aws_sqs_queue" "s3" {
  for_each = var.s3_buckets
  name     = "${var.name}-s3-${replace(each.key, ".", "-")}"
  # A message is deleted once its objects' alerts are committed, and dead-lettered by sa itself
  # past 5 deliveries, so the queue needs no redrive policy; 14 days (the maximum) bounds how
  # long a stopped cluster can fall behind without losing events.
  message_retention_seconds  = 1209600
  visibility_timeout_seconds = 300
  sqs_managed_sse_enabled    = true
  tags                       = local.tags
}

data "aws_iam_policy_document" "s3_queue" {
  for_each = var.s3_buckets

  statement {
    sid       = "BucketSendsEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.s3[each.key].arn]

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:s3:::${each.key}"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sqs_queue_policy" "s3" {
  for_each  = var.s3_buckets
  queue_url = aws_sqs_queue.s3[each.key].id
  policy    = data.aws_iam_policy_document.s3_queue[each.key].json
}

resource "aws_s3_bucket_notification" "source" {
  for_each = var.s3_buckets
  bucket   = each.key

  queue {
    queue_arn     = aws_sqs_queue.s3[each.key].arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = each.value.filter_prefix
    filter_suffix = each.value.filter_suffix
  }

  # S3 checks that it may send to the queue when the notification is set.
  depends_on = [aws_sqs_queue_policy.s3]
}
