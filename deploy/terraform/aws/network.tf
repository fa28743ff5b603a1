# One security group for every node. The peer port (Raft, joins, the data key) is open to the
# nodes only, the gRPC port to the nodes and the operators, the HTTP port to the ingest CIDRs
# (docs/security.md, "A listener for peers" and the hardening checklist). Rules are resources
# of their own, one per port and source, so that each can be read and checked alone.

resource "aws_security_group" "node" {
  name        = "${var.name}-node"
  description = "sa cluster ${var.name}: every node"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-node" })
}

resource "aws_vpc_security_group_ingress_rule" "peer_from_nodes" {
  security_group_id            = aws_security_group.node.id
  description                  = "sa peer traffic (Raft, joins, data key) between nodes"
  ip_protocol                  = "tcp"
  from_port                    = var.peer_port
  to_port                      = var.peer_port
  referenced_security_group_id = aws_security_group.node.id
  tags                         = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "grpc_from_nodes" {
  security_group_id            = aws_security_group.node.id
  description                  = "sa gRPC (admin, alerts, ingest) from the nodes"
  ip_protocol                  = "tcp"
  from_port                    = var.grpc_port
  to_port                      = var.grpc_port
  referenced_security_group_id = aws_security_group.node.id
  tags                         = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "grpc_from_admins" {
  for_each          = toset(var.admin_cidrs)
  security_group_id = aws_security_group.node.id
  description       = "sa gRPC (sactl, gRPC shippers) from an admin CIDR"
  ip_protocol       = "tcp"
  from_port         = var.grpc_port
  to_port           = var.grpc_port
  cidr_ipv4         = each.value
  tags              = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "http_from_ingest" {
  for_each          = toset(var.ingest_cidrs)
  security_group_id = aws_security_group.node.id
  description       = "sa HTTP (ingest, healthz, metrics) from an ingest CIDR"
  ip_protocol       = "tcp"
  from_port         = var.http_port
  to_port           = var.http_port
  cidr_ipv4         = each.value
  tags              = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  for_each          = toset(var.ssh_cidrs)
  security_group_id = aws_security_group.node.id
  description       = "SSH from an operator CIDR"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = each.value
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "peer_to_nodes" {
  security_group_id            = aws_security_group.node.id
  description                  = "sa peer traffic to the other nodes"
  ip_protocol                  = "tcp"
  from_port                    = var.peer_port
  to_port                      = var.peer_port
  referenced_security_group_id = aws_security_group.node.id
  tags                         = local.tags
}

resource "aws_vpc_security_group_egress_rule" "grpc_to_nodes" {
  security_group_id            = aws_security_group.node.id
  description                  = "sa gRPC to the other nodes"
  ip_protocol                  = "tcp"
  from_port                    = var.grpc_port
  to_port                      = var.grpc_port
  referenced_security_group_id = aws_security_group.node.id
  tags                         = local.tags
}

resource "aws_vpc_security_group_egress_rule" "out" {
  for_each          = toset(var.egress_cidrs)
  security_group_id = aws_security_group.node.id
  description       = "Debian mirrors, AWS APIs and alert outputs (webhooks on any port)"
  ip_protocol       = "-1"
  cidr_ipv4         = each.value
  tags              = local.tags
}
