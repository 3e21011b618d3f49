variable "region" {
  description = "AWS region of the pool (the pool's settings.region)."
  type        = string
}

variable "cluster" {
  description = "sandfleet's `cluster` in sandfleet.yaml. Instances are tagged sandfleet:cluster=<cluster>, and the daemon's IAM policy only lets it launch, stop and terminate instances carrying that tag."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,30}$", var.cluster))
    error_message = "cluster must be lowercase letters, digits and dashes, at most 31 (as sandfleet.yaml requires)."
  }
}

variable "name" {
  description = "Name of the launch template and prefix of the other resources; defaults to sandfleet-<cluster>-analysis."
  type        = string
  default     = null
}

variable "ami_id" {
  description = "AMI of the analysis machines."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]+$", var.ami_id))
    error_message = "ami_id must look like ami-0123abcd."
  }
}

variable "instance_type" {
  description = "Instance type of the analysis machines."
  type        = string
  default     = "t3.medium"
}

variable "subnet_ids" {
  description = "Subnets the analysis machines launch in (the pool's settings.subnetIds; sandfleet tries the next one when a subnet has no capacity). Use private subnets: see allow_public_ip."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "subnet_ids must list at least one subnet id (subnet-0123abcd)."
  }
}

variable "allow_public_ip" {
  description = "Allow subnets that give instances a public IP on launch. The launch template cannot switch it off: sandfleet passes the subnet in RunInstances, which EC2 refuses together with a network interface in the template."
  type        = bool
  default     = false
}

variable "ingress_ports" {
  description = "TCP ports the daemon reaches on the analysis machines: the readiness probe port and whatever your runner connects to."
  type        = list(number)
  default     = [22]
}

variable "ingress_cidr_blocks" {
  description = "CIDR blocks allowed to reach ingress_ports (where the sandfleet daemons run)."
  type        = list(string)
  default     = []
}

variable "ingress_security_group_ids" {
  description = "Security groups allowed to reach ingress_ports (e.g. the daemons' instances or EKS nodes)."
  type        = list(string)
  default     = []
}

variable "egress_cidr_blocks" {
  description = "Where the analysis machines may connect to (all protocols). Empty: no egress beyond what the VPC always allows (DNS, DHCP, instance metadata)."
  type        = list(string)
  default     = []
}

variable "key_name" {
  description = "EC2 key pair for the analysis machines, if any."
  type        = string
  default     = null
}

variable "user_data" {
  description = "User data (plain text; it is base64-encoded here) for the analysis machines, if any."
  type        = string
  default     = null
}

variable "analysis_instance_profile_name" {
  description = "An existing instance profile to give the analysis machines, if they need one (usually they must not: they run untrusted samples). When set, the daemon gets iam:PassRole on its role, for EC2 only."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags on every resource Terraform creates here (not on the instances: sandfleet tags those itself at launch)."
  type        = map(string)
  default     = {}
}
