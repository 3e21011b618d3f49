# The AWS side of a sandfleet pool: the analysis machines' launch template and security group,
# and the IAM role + instance profile of the EC2 instance that runs the sandfleet daemon.
provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ "sandfleet:cluster" = var.cluster }, var.tags)
  }
}

locals {
  name = coalesce(var.name, "sandfleet-${var.cluster}-analysis")
}

data "aws_subnet" "analysis" {
  for_each = toset(var.subnet_ids)
  id       = each.value
}

data "aws_iam_instance_profile" "analysis" {
  count = var.analysis_instance_profile_name == null ? 0 : 1
  name  = var.analysis_instance_profile_name
}

# --- Analysis machines -------------------------------------------------------------------

resource "aws_security_group" "analysis" {
  name_prefix = "${local.name}-"
  description = "sandfleet analysis machines of cluster ${var.cluster}"
  vpc_id      = data.aws_subnet.analysis[var.subnet_ids[0]].vpc_id

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = length(distinct([for s in data.aws_subnet.analysis : s.vpc_id])) == 1
      error_message = "All subnet_ids must be in one VPC (the security group's)."
    }
  }
}

resource "aws_vpc_security_group_ingress_rule" "from_cidr" {
  for_each = { for pair in setproduct(var.ingress_ports, var.ingress_cidr_blocks) : "${pair[0]}-${pair[1]}" => pair }

  security_group_id = aws_security_group.analysis.id
  description       = "sandfleet daemon to analysis machine (readiness probe, runner)"
  ip_protocol       = "tcp"
  from_port         = each.value[0]
  to_port           = each.value[0]
  cidr_ipv4         = each.value[1]
}

resource "aws_vpc_security_group_ingress_rule" "from_security_group" {
  for_each = { for pair in setproduct(var.ingress_ports, var.ingress_security_group_ids) : "${pair[0]}-${pair[1]}" => pair }

  security_group_id            = aws_security_group.analysis.id
  description                  = "sandfleet daemon to analysis machine (readiness probe, runner)"
  ip_protocol                  = "tcp"
  from_port                    = each.value[0]
  to_port                      = each.value[0]
  referenced_security_group_id = each.value[1]
}

resource "aws_vpc_security_group_egress_rule" "analysis" {
  for_each = toset(var.egress_cidr_blocks)

  security_group_id = aws_security_group.analysis.id
  description       = "analysis machine egress"
  ip_protocol       = "-1"
  cidr_ipv4         = each.value
}

resource "aws_launch_template" "analysis" {
  name                   = local.name
  description            = "sandfleet analysis machines of cluster ${var.cluster}"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  key_name               = var.key_name
  user_data              = var.user_data == null ? null : base64encode(var.user_data)
  update_default_version = true

  # Security groups at the top level, not in a network_interfaces block: sandfleet passes
  # SubnetId in RunInstances (one subnet per attempt), and EC2 refuses an instance-level subnet
  # together with a template's network interface. For the same reason the template cannot turn
  # the public IP off; the subnets must not assign one (checked below).
  vpc_security_group_ids = [aws_security_group.analysis.id]

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  dynamic "iam_instance_profile" {
    for_each = data.aws_iam_instance_profile.analysis
    content {
      arn = iam_instance_profile.value.arn
    }
  }

  # No tag_specifications: sandfleet tags each instance at launch (sandfleet:cluster, pool,
  # machine), and its IAM policy allows tagging instances only, only as part of RunInstances.
  # Tags here would be tags on the launch template itself (provider default_tags).

  lifecycle {
    precondition {
      condition     = var.allow_public_ip || alltrue([for s in data.aws_subnet.analysis : !s.map_public_ip_on_launch])
      error_message = "A subnet in subnet_ids assigns public IPs on launch (map_public_ip_on_launch). Use private subnets, or set allow_public_ip = true."
    }
  }
}

# --- The daemon's instance role ----------------------------------------------------------

data "aws_iam_policy_document" "ec2_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "daemon" {
  name               = "sandfleet-${var.cluster}-daemon"
  description        = "The sandfleet daemon of cluster ${var.cluster}"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume_role.json
}

# Exactly the EC2 calls the aws adapter makes (test/providers/contract.aws.test.ts keeps the
# file and the adapter in step), for this cluster's instances only.
resource "aws_iam_role_policy" "daemon" {
  name   = "sandfleet-${var.cluster}-ec2"
  role   = aws_iam_role.daemon.id
  policy = templatefile("${path.module}/../../aws/iam-policy.json", { cluster = var.cluster })
}

# Launching with a template that names an instance profile needs iam:PassRole on its role.
# Kept out of iam-policy.json on purpose: that file is exactly what the adapter calls (the
# contract test fails on a grant the adapter never uses), and this one depends on the template.
resource "aws_iam_role_policy" "pass_analysis_role" {
  count = length(data.aws_iam_instance_profile.analysis)

  name = "sandfleet-${var.cluster}-pass-analysis-role"
  role = aws_iam_role.daemon.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "PassOnlyTheAnalysisMachinesRoleToEc2"
      Effect    = "Allow"
      Action    = "iam:PassRole"
      Resource  = data.aws_iam_instance_profile.analysis[0].role_arn
      Condition = { StringEquals = { "iam:PassedToService" = "ec2.amazonaws.com" } }
    }]
  })
}

resource "aws_iam_instance_profile" "daemon" {
  name = "sandfleet-${var.cluster}-daemon"
  role = aws_iam_role.daemon.name
}
