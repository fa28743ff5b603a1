# Two roles, because only the seed may read the CA key and only members need the join token.
# Both get the node policy: exactly the API calls sanode makes (node/aws-sources, node/outputs,
# node/sanode/src/lookup_refresh, the threat intel stage and the KMS cipher), on the resources
# declared in the variables. Every statement names its resources; the one exception is
# PutMetrics, documented below and in the README.

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    sid     = "Ec2AssumesRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

locals {
  kinesis_stream_arns = concat(var.kinesis_stream_arns, [for stream in aws_kinesis_stream.source : stream.arn])

  # Objects of each notified bucket, narrowed to its key prefix when it has one.
  s3_source_object_arns = [
    for bucket, filter in var.s3_buckets :
    "arn:${local.partition}:s3:::${bucket}/${filter.filter_prefix == null ? "" : filter.filter_prefix}*"
  ]

  # s3://BUCKET/KEY of the package, when it comes from S3.
  package_object_arn = startswith(var.package_url, "s3://") ? "arn:${local.partition}:s3:::${trimprefix(var.package_url, "s3://")}" : null

  # Statements that exist only when their resources were declared: sid => [actions, resources].
  node_statements = {
    ReadKinesis = {
      actions   = ["kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords"]
      resources = local.kinesis_stream_arns
    }
    RegisterFanOutConsumer = {
      actions   = ["kinesis:RegisterStreamConsumer"]
      resources = var.kinesis_fan_out_consumer == null ? [] : local.kinesis_stream_arns
    }
    ReadThroughFanOutConsumer = {
      actions = ["kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard"]
      resources = var.kinesis_fan_out_consumer == null ? [] : [
        for stream in local.kinesis_stream_arns : "${stream}/consumer/${var.kinesis_fan_out_consumer}:*"
      ]
    }
    ReadS3Queues = {
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]
      resources = [for queue in aws_sqs_queue.s3 : queue.arn]
    }
    ReadNotifiedObjects = {
      actions   = ["s3:GetObject"]
      resources = local.s3_source_object_arns
    }
    ReadThreatIntel = {
      actions   = ["dynamodb:BatchGetItem"]
      resources = var.threat_intel_table_arns
    }
    ReadLookupTablesDynamoDB = {
      actions   = ["dynamodb:Scan"]
      resources = var.lookup_table_dynamodb_arns
    }
    ReadLookupTablesS3 = {
      actions   = ["s3:GetObject"]
      resources = var.lookup_table_s3_object_arns
    }
    DecryptSources = {
      actions   = ["kms:Decrypt"]
      resources = var.source_kms_key_arns
    }
    SealOutputSecrets = {
      actions   = ["kms:Encrypt", "kms:Decrypt"]
      resources = var.secrets_kms_key_arn == null ? [] : [var.secrets_kms_key_arn]
    }
    PublishSns = {
      actions   = ["sns:Publish"]
      resources = var.output_sns_topic_arns
    }
    SendSqs = {
      actions   = ["sqs:GetQueueUrl", "sqs:SendMessage"]
      resources = var.output_sqs_queue_arns
    }
    PutFirehose = {
      actions   = ["firehose:PutRecord"]
      resources = var.output_firehose_stream_arns
    }
    InvokeLambda = {
      actions   = ["lambda:InvokeFunction"]
      resources = var.output_lambda_function_arns
    }
    PutS3Objects = {
      actions   = ["s3:PutObject"]
      resources = [for bucket in var.output_s3_bucket_arns : "${bucket}/*"]
    }
    DownloadPackage = {
      actions   = ["s3:GetObject"]
      resources = local.package_object_arn == null ? [] : [local.package_object_arn]
    }
  }
}

data "aws_iam_policy_document" "node" {
  dynamic "statement" {
    for_each = { for sid, statement in local.node_statements : sid => statement if length(statement.resources) > 0 }
    content {
      sid       = statement.key
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }

  # The viewer bearer token with which each node reads its own /metrics.
  statement {
    sid       = "ReadMetricsToken"
    actions   = ["ssm:GetParameter"]
    resources = ["${local.parameter_arn_prefix}/metrics-token"]
  }

  # CloudWatch has no resource-level permissions for PutMetricData: the resource must be "*".
  # The condition keeps the nodes to their own namespace.
  statement {
    sid       = "PutMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metrics_namespace]
    }
  }

  # SecureString parameters under a customer managed key: decrypted only on SSM's behalf.
  dynamic "statement" {
    for_each = var.ssm_kms_key_arn == null ? [] : [var.ssm_kms_key_arn]
    content {
      sid       = "DecryptParameters"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${local.region}.amazonaws.com"]
      }
    }
  }
}

data "aws_iam_policy_document" "seed_bootstrap" {
  statement {
    sid     = "ReadClusterCa"
    actions = ["ssm:GetParameter"]
    resources = [
      "${local.parameter_arn_prefix}/ca-cert",
      "${local.parameter_arn_prefix}/ca-key",
    ]
  }

  statement {
    sid       = "RecordBootstrap"
    actions   = ["ssm:GetParameter", "ssm:PutParameter"]
    resources = [aws_ssm_parameter.seed_state.arn]
  }
}

data "aws_iam_policy_document" "member_bootstrap" {
  statement {
    sid       = "ReadJoinToken"
    actions   = ["ssm:GetParameter"]
    resources = ["${local.parameter_arn_prefix}/join-token"]
  }
}

resource "aws_iam_role" "seed" {
  name               = "${var.name}-sa-seed"
  description        = "sa cluster ${var.name}: the seed node"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

resource "aws_iam_role" "member" {
  name               = "${var.name}-sa-member"
  description        = "sa cluster ${var.name}: member nodes"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "seed_node" {
  name   = "sa-node"
  role   = aws_iam_role.seed.id
  policy = data.aws_iam_policy_document.node.json
}

resource "aws_iam_role_policy" "seed_bootstrap" {
  name   = "sa-seed-bootstrap"
  role   = aws_iam_role.seed.id
  policy = data.aws_iam_policy_document.seed_bootstrap.json
}

resource "aws_iam_role_policy" "member_node" {
  name   = "sa-node"
  role   = aws_iam_role.member.id
  policy = data.aws_iam_policy_document.node.json
}

resource "aws_iam_role_policy" "member_bootstrap" {
  name   = "sa-member-bootstrap"
  role   = aws_iam_role.member.id
  policy = data.aws_iam_policy_document.member_bootstrap.json
}

resource "aws_iam_instance_profile" "seed" {
  name = "${var.name}-sa-seed"
  role = aws_iam_role.seed.name
  tags = local.tags
}

resource "aws_iam_instance_profile" "member" {
  name = "${var.name}-sa-member"
  role = aws_iam_role.member.name
  tags = local.tags
}
