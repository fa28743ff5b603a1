# ---------------------------------------------------------------------------------------------
# The cluster
# ---------------------------------------------------------------------------------------------

variable "name" {
  description = "Cluster name: prefixes every resource name, tags every resource (sa:cluster) and names the SSM parameters (/sa/NAME/... unless ssm_parameter_prefix says otherwise). At most 13 characters so that SQS queue names (NAME-s3-BUCKET) stay within 80."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,12}$", var.name))
    error_message = "name must be 1 to 13 characters of a-z, 0-9 and -, starting with a letter."
  }
}

variable "node_count" {
  description = "Nodes in the cluster: the seed (an EC2 instance with a fixed private IP, holding the CA key) plus node_count - 1 members in the auto scaling group. Odd, because a Raft cluster of 2k nodes survives no more failures than one of 2k - 1."
  type        = number
  default     = 3

  validation {
    condition     = var.node_count >= 1 && var.node_count <= 9 && var.node_count % 2 == 1
    error_message = "node_count must be odd, from 1 to 9."
  }
}

variable "vpc_id" {
  description = "VPC the nodes run in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the nodes, preferably in several availability zones: the auto scaling group spreads members over all of them; the seed runs in the first. The nodes need outbound HTTPS (a NAT gateway or VPC endpoints) for Debian's mirrors, the AWS APIs and alert outputs."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "subnet_ids needs at least one subnet."
  }
}

variable "seed_private_ip" {
  description = "A free private IPv4 address in subnet_ids[0] for the seed. Members join the cluster through it, and it is in the seed's certificate, so it must not change for the cluster's life."
  type        = string

  validation {
    condition     = can(regex("^(\\d{1,3}\\.){3}\\d{1,3}$", var.seed_private_ip))
    error_message = "seed_private_ip must be an IPv4 address."
  }
}

# ---------------------------------------------------------------------------------------------
# Ports and who reaches them
# ---------------------------------------------------------------------------------------------

variable "grpc_port" {
  description = "sanode --grpc-addr port: Admin, Alerts, Cluster and Ingest gRPC services (sactl, gRPC shippers). Open to the nodes and admin_cidrs."
  type        = number
  default     = 7710
}

variable "peer_port" {
  description = "sanode --peer-addr port: Raft, joins and the data key between nodes. Open to the nodes only."
  type        = number
  default     = 7711
}

variable "http_port" {
  description = "sanode --http-addr port: /healthz, /metrics and POST /v1/ingest/{source}. Open to ingest_cidrs only (each node scrapes its own /metrics locally)."
  type        = number
  default     = 7780
}

variable "admin_cidrs" {
  description = "IPv4 CIDRs of the operators' hosts (sactl) and gRPC shippers, allowed to the gRPC port. Empty: only the nodes themselves."
  type        = list(string)
  default     = []
}

variable "ingest_cidrs" {
  description = "IPv4 CIDRs allowed to the HTTP port (HTTP shippers, load balancers, Prometheus). Empty: none."
  type        = list(string)
  default     = []
}

variable "ssh_cidrs" {
  description = "IPv4 CIDRs allowed to SSH (port 22). Empty: no SSH rule; reach the nodes with the EC2 serial console or your own tooling."
  type        = list(string)
  default     = []
}

variable "egress_cidrs" {
  description = "IPv4 CIDRs the nodes may connect to, on any port: Debian's mirrors, the AWS APIs, and alert outputs (Slack, PagerDuty, webhooks on any port). Node-to-node traffic is allowed separately."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

# ---------------------------------------------------------------------------------------------
# The machines
# ---------------------------------------------------------------------------------------------

variable "instance_type" {
  description = "EC2 instance type of every node. Two vCPUs at least: the rules thread (Python) takes one, the classifier the rest."
  type        = string
  default     = "m6i.large"
}

variable "ami_id" {
  description = "AMI of every node. Null: the newest official Debian 12 amd64 AMI (owner 136693071363). The package must match the AMI's architecture. The seed keeps the AMI it was created with (lifecycle ignore_changes)."
  type        = string
  default     = null
}

variable "root_volume_size_gb" {
  description = "Root volume of every node (gp3, encrypted). Members keep their Raft state in /var/lib/sa on it."
  type        = number
  default     = 50
}

variable "seed_data_volume_size_gb" {
  description = "The seed's own data volume (gp3, encrypted), mounted at /var/lib/sa: it outlives the seed instance, so a replaced seed resumes with its node id, state, certificates and CA key."
  type        = number
  default     = 50
}

variable "key_name" {
  description = "EC2 key pair for SSH as the AMI's user (admin on Debian). Null: none."
  type        = string
  default     = null
}

variable "package_url" {
  description = "Where each node downloads the sa Debian package at first boot: s3://BUCKET/KEY (read with the instance role, which is given s3:GetObject on that object only) or https://..."
  type        = string

  validation {
    condition     = can(regex("^(s3|https)://[^'\"\\s]+\\.deb$", var.package_url))
    error_message = "package_url must be an s3:// or https:// URL of a .deb, without quotes or spaces."
  }
}

variable "package_sha256" {
  description = "SHA-256 of the package at package_url; a node whose download does not match refuses to install it."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.package_sha256))
    error_message = "package_sha256 must be 64 lowercase hex digits."
  }
}

variable "extra_sanode_env" {
  description = "More sanode flags as SA_* environment variables written to /etc/sa/sanode.env (for example SA_CLASSIFIER_THREADS, SA_LEASE_TIMEOUT). The addresses, data and certificate directories, join settings, S3 queues, KMS key and fan-out consumer are set by the module."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for key, value in var.extra_sanode_env :
      can(regex("^SA_[A-Z0-9_]+$", key)) && can(regex("^[^'\"\\s$`\\\\]*$", value))
    ])
    error_message = "extra_sanode_env keys must be SA_* names and values must hold no quotes, spaces, $, backquotes or backslashes."
  }
}

# ---------------------------------------------------------------------------------------------
# Bootstrap secrets (created by the operator, never by Terraform, so they stay out of the state)
# ---------------------------------------------------------------------------------------------

variable "ssm_parameter_prefix" {
  description = "SSM Parameter Store path holding the cluster's bootstrap parameters: ca-cert, ca-key (read by the seed only), join-token (read by members only), metrics-token (read by every node) and seed-state (created by the module, written by the seed). Null: /sa/NAME."
  type        = string
  default     = null

  validation {
    condition     = var.ssm_parameter_prefix == null || can(regex("^(/[A-Za-z0-9_.-]+)+$", var.ssm_parameter_prefix))
    error_message = "ssm_parameter_prefix must be a path such as /sa/prod, without a trailing slash."
  }
}

variable "ssm_kms_key_arn" {
  description = "Customer managed KMS key the SecureString parameters are encrypted with; the nodes get kms:Decrypt on it through SSM only. Null: the parameters use the AWS managed key aws/ssm, which needs no IAM grant."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------------------------
# Data sources
# ---------------------------------------------------------------------------------------------

variable "kinesis_stream_arns" {
  description = "ARNs of existing Kinesis streams the nodes read (data_sources.kinesis in the cluster config)."
  type        = list(string)
  default     = []
}

variable "kinesis_streams" {
  description = "Kinesis streams to create, by name, and read like kinesis_stream_arns. shard_count null: on-demand capacity. Encrypted with the AWS managed key aws/kinesis."
  type = map(object({
    shard_count     = optional(number)
    retention_hours = optional(number, 24)
  }))
  default = {}
}

variable "kinesis_fan_out_consumer" {
  description = "Read every stream through this enhanced fan-out consumer (sanode --kinesis-fan-out), which the nodes register; grants RegisterStreamConsumer on the streams and SubscribeToShard on that consumer only. Null: GetRecords polling."
  type        = string
  default     = null
}

variable "s3_buckets" {
  description = "Existing S3 buckets whose new objects the nodes read (data_sources.s3): for each, the module creates an SQS queue, lets the bucket send to it, and sets the bucket's event notification (which replaces any notification configuration the bucket had). Optional key prefix and suffix filters."
  type = map(object({
    filter_prefix = optional(string)
    filter_suffix = optional(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for bucket in keys(var.s3_buckets) : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", bucket))])
    error_message = "s3_buckets keys must be bucket names."
  }
}

variable "threat_intel_table_arns" {
  description = "DynamoDB tables of threat intel IOCs (conf/threat_intel.json), read with BatchGetItem."
  type        = list(string)
  default     = []
}

variable "lookup_table_dynamodb_arns" {
  description = "DynamoDB tables behind lookup tables (conf/lookup_tables.json), read with Scan by the leader."
  type        = list(string)
  default     = []
}

variable "lookup_table_s3_object_arns" {
  description = "S3 objects behind lookup tables (arn:aws:s3:::BUCKET/KEY), read with GetObject by the leader."
  type        = list(string)
  default     = []
}

variable "source_kms_key_arns" {
  description = "KMS keys encrypting what the nodes read (SSE-KMS buckets and lookup objects, Kinesis streams with a customer managed key): kms:Decrypt only."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------------------------------------
# Outputs (where alerts go) and output secrets
# ---------------------------------------------------------------------------------------------

variable "secrets_kms_key_arn" {
  description = "KMS key sealing output settings instead of the cluster data key (sanode --kms-key-id): kms:Encrypt and kms:Decrypt on it. Null: the data key."
  type        = string
  default     = null
}

variable "output_sns_topic_arns" {
  description = "SNS topics of aws-sns outputs: sns:Publish."
  type        = list(string)
  default     = []
}

variable "output_sqs_queue_arns" {
  description = "SQS queues of aws-sqs outputs: sqs:GetQueueUrl and sqs:SendMessage."
  type        = list(string)
  default     = []
}

variable "output_firehose_stream_arns" {
  description = "Firehose delivery streams of aws-firehose outputs, the alerts Firehose among them: firehose:PutRecord."
  type        = list(string)
  default     = []
}

variable "output_lambda_function_arns" {
  description = "Lambda functions of aws-lambda outputs: lambda:InvokeFunction."
  type        = list(string)
  default     = []
}

variable "output_s3_bucket_arns" {
  description = "S3 buckets of aws-s3 outputs: s3:PutObject on their objects."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------------------------------------
# Metrics and alarms
# ---------------------------------------------------------------------------------------------

variable "metrics_namespace" {
  description = "CloudWatch namespace the nodes publish their metrics to (RaftIsLeader, TlsCertExpirySeconds, by ClusterName); the only namespace their role may write."
  type        = string
  default     = "sa"
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm fires or clears (SNS topics, usually)."
  type        = list(string)
  default     = []
}

variable "cert_expiry_alarm_days" {
  description = "Alarm when a node's certificate expires in fewer days than this (docs/security.md: renew with sactl certs create-node --overwrite)."
  type        = number
  default     = 14
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
