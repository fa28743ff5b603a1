output "seed_grpc_address" {
  description = "The seed's gRPC address, for sactl --node (from an admin CIDR)."
  value       = "${var.seed_private_ip}:${var.grpc_port}"
}

output "seed_peer_address" {
  description = "The seed's peer address, which members --join."
  value       = "${var.seed_private_ip}:${var.peer_port}"
}

output "seed_instance_id" {
  description = "The seed's EC2 instance id."
  value       = aws_instance.seed.id
}

output "seed_data_volume_id" {
  description = "The seed's data volume (/var/lib/sa: node id, Raft state, certificates and the CA key). Snapshot it to back the seed up."
  value       = aws_ebs_volume.seed_data.id
}

output "autoscaling_group_name" {
  description = "The members' auto scaling group."
  value       = aws_autoscaling_group.members.name
}

output "launch_template_id" {
  description = "The members' launch template."
  value       = aws_launch_template.member.id
}

output "security_group_id" {
  description = "The nodes' security group: reference it to let other security groups reach the nodes."
  value       = aws_security_group.node.id
}

output "seed_role_name" {
  description = "IAM role of the seed, to attach policies for outputs this module does not grant (aws-ses, aws-cloudwatch-log)."
  value       = aws_iam_role.seed.name
}

output "member_role_name" {
  description = "IAM role of the members, to attach policies for outputs this module does not grant (aws-ses, aws-cloudwatch-log)."
  value       = aws_iam_role.member.name
}

output "ssm_parameters" {
  description = "SSM parameter names the operator creates (ca_cert, ca_key, join_token, metrics_token; README) and the one the module creates (seed_state)."
  value = {
    ca_cert       = "${local.parameter_prefix}/ca-cert"
    ca_key        = "${local.parameter_prefix}/ca-key"
    join_token    = "${local.parameter_prefix}/join-token"
    metrics_token = "${local.parameter_prefix}/metrics-token"
    seed_state    = aws_ssm_parameter.seed_state.name
  }
}

output "s3_queue_urls" {
  description = "SQS queue URL per declared bucket (the nodes' --s3-queue); the cluster config names the buckets under data_sources.s3."
  value       = { for bucket, queue in aws_sqs_queue.s3 : bucket => queue.url }
}

output "kinesis_stream_arns" {
  description = "ARNs of every stream the nodes may read, given and created; the cluster config names them under data_sources.kinesis."
  value       = local.kinesis_stream_arns
}

output "alarm_names" {
  description = "The CloudWatch alarms: no leader, certificate expiry, members in service (with members), seed recovery."
  value = concat(
    [aws_cloudwatch_metric_alarm.no_leader.alarm_name, aws_cloudwatch_metric_alarm.cert_expiry.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.members_in_service : alarm.alarm_name],
    [aws_cloudwatch_metric_alarm.seed_recover.alarm_name],
  )
}
