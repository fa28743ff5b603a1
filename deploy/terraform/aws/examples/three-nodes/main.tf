# A three-node sa cluster reading CloudTrail from an S3 bucket and a Kinesis stream it creates,
# alerting to an SNS topic, with its alarms on another. Usage: ../../README.md.

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  description = "AWS region of the cluster."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets with outbound HTTPS, one per availability zone; the seed runs in the first."
  type        = list(string)
}

variable "seed_private_ip" {
  description = "A free address in the first subnet, for the seed."
  type        = string
}

variable "admin_cidrs" {
  description = "Where operators run sactl from."
  type        = list(string)
}

variable "package_url" {
  description = "s3:// or https:// URL of the sa .deb."
  type        = string
}

variable "package_sha256" {
  description = "SHA-256 of the .deb."
  type        = string
}

variable "cloudtrail_bucket" {
  description = "Existing bucket CloudTrail writes to; its event notification is replaced by the cluster's queue."
  type        = string
}

resource "aws_sns_topic" "alerts" {
  name = "sa-prod-alerts"
}

resource "aws_sns_topic" "alarms" {
  name = "sa-prod-alarms"
}

module "sa" {
  source = "../.."

  name            = "prod"
  node_count      = 3
  vpc_id          = var.vpc_id
  subnet_ids      = var.subnet_ids
  seed_private_ip = var.seed_private_ip
  admin_cidrs     = var.admin_cidrs
  package_url     = var.package_url
  package_sha256  = var.package_sha256

  kinesis_streams = {
    "sa-prod-logs" = { shard_count = 2 }
  }
  s3_buckets = {
    (var.cloudtrail_bucket) = { filter_prefix = "AWSLogs/", filter_suffix = ".json.gz" }
  }

  output_sns_topic_arns = [aws_sns_topic.alerts.arn]
  alarm_actions         = [aws_sns_topic.alarms.arn]
}

output "seed_grpc_address" {
  description = "For sactl --node."
  value       = module.sa.seed_grpc_address
}

output "ssm_parameters" {
  description = "The parameters to create before the members can join (README)."
  value       = module.sa.ssm_parameters
}

output "s3_queue_urls" {
  description = "The queue of each bucket."
  value       = module.sa.s3_queue_urls
}

output "kinesis_stream_arns" {
  description = "The streams the cluster reads."
  value       = module.sa.kinesis_stream_arns
}
