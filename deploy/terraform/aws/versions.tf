terraform {
  # optional() object attributes with defaults and startswith() need 1.3; 1.5 is the oldest
  # release still receiving fixes when this was written.
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Validated against 5.100 (aws_vpc_security_group_ingress_rule needs 5.0); 6.x changed
      # data sources this module reads (aws_region), so it is not admitted untried.
      version = ">= 5.0, < 6.0"
    }
  }
}
