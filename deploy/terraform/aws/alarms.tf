# sanode exposes Prometheus metrics only (GET /metrics, viewer role). Each node pushes two of
# them to CloudWatch every minute (the sa-cloudwatch-metrics timer of user_data.sh.tftpl):
#   RaftIsLeader          <- sa_raft_is_leader (1 on the leader, 0 elsewhere)
#   TlsCertExpirySeconds  <- sa_tls_cert_expiry_seconds (time left on the node's certificate)
# both with the single dimension ClusterName, so that CloudWatch aggregates the nodes.

locals {
  metric_dimensions = { ClusterName = var.name }
}

# No node reported itself leader for three minutes: the cluster lost its quorum, or no node can
# push its metrics (which also means nobody can see it). Missing data is therefore breaching.
resource "aws_cloudwatch_metric_alarm" "no_leader" {
  alarm_name          = "${var.name}-sa-no-leader"
  alarm_description   = "sa cluster ${var.name}: no node reported being the Raft leader (sa_raft_is_leader) for 3 minutes"
  namespace           = var.metrics_namespace
  metric_name         = "RaftIsLeader"
  dimensions          = local.metric_dimensions
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = local.tags
}

# docs/security.md: alert on sa_tls_cert_expiry_seconds before a certificate expires.
resource "aws_cloudwatch_metric_alarm" "cert_expiry" {
  alarm_name          = "${var.name}-sa-cert-expiry"
  alarm_description   = "sa cluster ${var.name}: a node certificate expires within ${var.cert_expiry_alarm_days} days (sa_tls_cert_expiry_seconds); renew it with sactl certs create-node --overwrite"
  namespace           = var.metrics_namespace
  metric_name         = "TlsCertExpirySeconds"
  dimensions          = local.metric_dimensions
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.cert_expiry_alarm_days * 86400
  comparison_operator = "LessThanThreshold"
  # The no-leader alarm already fires when no metrics arrive.
  treat_missing_data = "notBreaching"
  alarm_actions      = var.alarm_actions
  ok_actions         = var.alarm_actions
  tags               = local.tags
}

# Fewer members in service than declared for 10 minutes (replacements that keep failing, a
# capacity shortage). A member in service may still have failed to join: no-leader and
# `sactl nodes` tell that.
resource "aws_cloudwatch_metric_alarm" "members_in_service" {
  count               = local.member_count > 0 ? 1 : 0
  alarm_name          = "${var.name}-sa-members-in-service"
  alarm_description   = "sa cluster ${var.name}: fewer than ${local.member_count} members in service"
  namespace           = "AWS/AutoScaling"
  metric_name         = "GroupInServiceInstances"
  dimensions          = { AutoScalingGroupName = aws_autoscaling_group.members.name }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 10
  threshold           = local.member_count
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = local.tags
}

# The seed is a plain instance (a fixed IP), not in the group: on a failed system status check
# EC2 recovers it onto other hardware with the same IP, instance id and volumes.
resource "aws_cloudwatch_metric_alarm" "seed_recover" {
  alarm_name          = "${var.name}-sa-seed-recover"
  alarm_description   = "sa cluster ${var.name}: the seed failed its system status check; EC2 recovers it"
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed_System"
  dimensions          = { InstanceId = aws_instance.seed.id }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  alarm_actions       = concat(["arn:${local.partition}:automate:${local.region}:ec2:recover"], var.alarm_actions)
  tags                = local.tags
}
