# An sa cluster on EC2: a seed instance and an auto scaling group of members.
#
# Why a seed outside the group: members get their certificates by joining with a join token,
# and only a member holding the CA key can sign them (docs/security.md, "Joining with a join
# token"). One node has to hold it, at an address that does not change, and a node on a
# non-loopback address never makes its own CA. So the seed is an instance with a fixed private
# IP, its certificate issued at first boot from the CA the operator stored in SSM, and its state
# on a volume of its own that outlives the instance; members are interchangeable and join it.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_ami" "node" {
  most_recent = true
  # Debian's own AWS account (https://wiki.debian.org/Cloud/AmazonEC2Image); with ami_id the
  # lookup only reads that image, for its root device name.
  owners = var.ami_id == null ? ["136693071363"] : null

  filter {
    name   = var.ami_id == null ? "name" : "image-id"
    values = [var.ami_id == null ? "debian-12-amd64-*" : var.ami_id]
  }
}

data "aws_subnet" "seed" {
  id = var.subnet_ids[0]
}

locals {
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  tags = merge(var.tags, { "sa:cluster" = var.name })

  parameter_prefix     = coalesce(var.ssm_parameter_prefix, "/sa/${var.name}")
  parameter_arn_prefix = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.parameter_prefix}"

  member_count = var.node_count - 1

  # Flags every node gets beyond its addresses and join settings; an unset one is left out so
  # that sanode's own default applies.
  sanode_env = {
    for key, value in merge(var.extra_sanode_env, {
      AWS_REGION         = local.region
      SA_S3_QUEUES       = join(",", [for queue in aws_sqs_queue.s3 : queue.url])
      SA_KMS_KEY_ID      = var.secrets_kms_key_arn
      SA_KINESIS_FAN_OUT = var.kinesis_fan_out_consumer
    }) : key => value if value != null && value != ""
  }

  # One script for both roles (user_data.sh.tftpl says what each does).
  user_data = {
    for role in ["seed", "member"] : role => templatefile("${path.module}/user_data.sh.tftpl", {
      role              = role
      cluster           = var.name
      region            = local.region
      parameter_prefix  = local.parameter_prefix
      seed_ip           = var.seed_private_ip
      grpc_port         = var.grpc_port
      http_port         = var.http_port
      peer_port         = var.peer_port
      package_url       = var.package_url
      package_sha256    = var.package_sha256
      seed_volume_id    = role == "seed" ? aws_ebs_volume.seed_data.id : ""
      metrics_namespace = var.metrics_namespace
      sanode_env        = local.sanode_env
    })
  }

  metadata_options = {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
}

# ---------------------------------------------------------------------------------------------
# The seed
# ---------------------------------------------------------------------------------------------

resource "aws_ebs_volume" "seed_data" {
  availability_zone = data.aws_subnet.seed.availability_zone
  size              = var.seed_data_volume_size_gb
  type              = "gp3"
  encrypted         = true
  tags              = merge(local.tags, { Name = "${var.name}-seed-data" })
}

resource "aws_instance" "seed" {
  ami                    = data.aws_ami.node.id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_ids[0]
  private_ip             = var.seed_private_ip
  vpc_security_group_ids = [aws_security_group.node.id]
  iam_instance_profile   = aws_iam_instance_profile.seed.name
  key_name               = var.key_name
  user_data              = local.user_data["seed"]

  metadata_options {
    http_endpoint               = local.metadata_options.http_endpoint
    http_tokens                 = local.metadata_options.http_tokens
    http_put_response_hop_limit = local.metadata_options.http_put_response_hop_limit
  }

  root_block_device {
    volume_size = var.root_volume_size_gb
    volume_type = "gp3"
    encrypted   = true
  }

  tags        = merge(local.tags, { Name = "${var.name}-seed", "sa:role" = "seed" })
  volume_tags = local.tags

  lifecycle {
    # User data runs at first boot only, and a newer Debian AMI must not replace the node that
    # holds the CA key: upgrade the seed in place (apt) instead.
    ignore_changes = [ami, user_data]
  }
}

resource "aws_volume_attachment" "seed_data" {
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.seed_data.id
  instance_id = aws_instance.seed.id
  # RocksDB must not lose writes when the seed is replaced and its volume moves.
  stop_instance_before_detaching = true
}

# The seed's guard against bootstrapping a second cluster: it bootstraps only while this says
# not-bootstrapped, and writes it once it has. A seed that comes up with an empty data volume
# afterwards refuses to start (README: "The seed lost its volume").
resource "aws_ssm_parameter" "seed_state" {
  name        = "${local.parameter_prefix}/seed-state"
  description = "Whether the seed of sa cluster ${var.name} has bootstrapped it (written by the seed)"
  type        = "String"
  value       = "not-bootstrapped"
  tags        = local.tags

  lifecycle {
    ignore_changes = [value]
  }
}

# ---------------------------------------------------------------------------------------------
# The members
# ---------------------------------------------------------------------------------------------

resource "aws_launch_template" "member" {
  name_prefix            = "${var.name}-member-"
  description            = "sa cluster ${var.name}: a member joining the seed with a join token"
  image_id               = data.aws_ami.node.id
  instance_type          = var.instance_type
  key_name               = var.key_name
  user_data              = base64encode(local.user_data["member"])
  vpc_security_group_ids = [aws_security_group.node.id]
  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.member.arn
  }

  metadata_options {
    http_endpoint               = local.metadata_options.http_endpoint
    http_tokens                 = local.metadata_options.http_tokens
    http_put_response_hop_limit = local.metadata_options.http_put_response_hop_limit
  }

  block_device_mappings {
    device_name = data.aws_ami.node.root_device_name

    ebs {
      volume_size           = var.root_volume_size_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${var.name}-member", "sa:role" = "member" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = local.tags
  }

  tags = local.tags
}

resource "aws_autoscaling_group" "members" {
  name                = "${var.name}-members"
  min_size            = local.member_count
  max_size            = local.member_count
  desired_capacity    = local.member_count
  vpc_zone_identifier = var.subnet_ids
  # Replaces a member whose instance fails its EC2 status checks. The replacement joins as a
  # new node; the old one stays a Raft voter until `sactl remove-node` (README).
  health_check_type         = "EC2"
  health_check_grace_period = 300
  # For the alarm on in-service members (alarms.tf).
  enabled_metrics = ["GroupDesiredCapacity", "GroupInServiceInstances"]

  launch_template {
    id      = aws_launch_template.member.id
    version = aws_launch_template.member.latest_version
  }

  dynamic "tag" {
    for_each = local.tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = false
    }
  }
}
